"""A real Prometheus scraping the replicas' metrics endpoints, with the labels a Kubernetes scrape would add."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deploy.errors import ClusterError
from deploy.processes import Process, executable, get


@dataclass(frozen=True)
class Target:
    """One metrics endpoint.

    Attributes:
        metrics_port: Triton's metrics port on 127.0.0.1.
        labels: Labels of its series (``namespace``, ``service``, ``pod`` as a ServiceMonitor sets them).
    """

    metrics_port: int
    labels: Mapping[str, str] = field(default_factory=dict)


def config(targets: Sequence[Target], scrape_interval: str = "1s") -> dict:
    """prometheus.yml as data: one job scraping every target every ``scrape_interval``."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [{
            "job_name": "triton",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{t.metrics_port}"], "labels": dict(t.labels)}
                               for t in targets],
        }],
    }


class Prometheus:
    """``prometheus`` on ``port`` (127.0.0.1), its configuration and database in ``workdir``."""

    def __init__(self, targets: Sequence[Target], port: int, workdir: Path, scrape_interval: str = "1s") -> None:
        self.port = port
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config(targets, scrape_interval), sort_keys=False))
        binary = executable("prometheus", "prometheus")
        self._process = Process("prometheus", [
            binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn",
        ], workdir)
        self._process.wait_http(f"{self.url}/-/ready", timeout=60)

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def query(self, expression: str) -> float | None:
        """Evaluate ``expression`` now; its single value (``None`` when it has no sample or is NaN)."""
        body = json.loads(get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"))
        if body.get("status") != "success":
            raise ClusterError(f"Prometheus rejected the query {expression!r}: {body.get('error')}")
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def wait_targets_up(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` targets have been scraped successfully."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = json.loads(get(f"{self.url}/api/v1/targets"))["data"]["activeTargets"]
            if sum(t["health"] == "up" for t in active) >= count:
                return
            time.sleep(0.25)
        raise ClusterError(f"Prometheus did not scrape {count} targets within {timeout:g} s.")

    @property
    def pid(self) -> int:
        """Process id (and process group) of the running program."""
        return self._process.pid

    def stop(self) -> None:
        """Stop Prometheus."""
        self._process.stop()
