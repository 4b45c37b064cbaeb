"""A local stand-in for the chart's Deployment: replicas of the bundled Triton behind HAProxy, scraped by Prometheus.

Each replica serves its own copy of the repository (as each pod serves its image's) on free loopback ports;
Prometheus labels their series as a ServiceMonitor scrape would (``namespace``, ``service``, ``pod``), so the
chart's own autoscaling query, rendered by helm, runs unchanged against them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from deploy import chart
from deploy.errors import ClusterError
from deploy.haproxy import Balancer, BalancerSettings, Replica
from deploy.processes import get
from deploy.prometheus import Prometheus, Target
from server.local import LocalTriton
from server.ports import free_ports

_VERSION = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class ClusterSettings:
    """Shape of the local cluster.

    Attributes:
        replicas: Number of Triton replicas.
        release: Helm release name the labels and the query use.
        namespace: Namespace the labels and the query use.
        scrape_interval: Prometheus scrape (and rule evaluation) interval.
        window: Range of the query's deltas (the chart's default is 30s; shorter here to see changes sooner).
        ready_timeout: Seconds a replica may take to load its models.
    """

    replicas: int = 2
    release: str = "tritonize"
    namespace: str = "default"
    scrape_interval: str = "1s"
    window: str = "5s"
    ready_timeout: float = 180.0


def add_version(repository: Path) -> int:
    """Roll every model of ``repository`` to a new version: copy its newest version folder to the next number.

    Returns:
        The highest new version number.
    """
    newest = 0
    for model in sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file()):
        versions = sorted(int(v.name) for v in model.iterdir() if v.is_dir() and _VERSION.match(v.name))
        if not versions:
            continue
        target = model / str(versions[-1] + 1)
        shutil.copytree(model / str(versions[-1]), target, symlinks=True)
        newest = max(newest, versions[-1] + 1)
    if newest == 0:
        raise ClusterError(f"{repository} holds no model with a version folder.")
    return newest


class LocalCluster:
    """``settings.replicas`` Triton replicas of ``repository`` behind HAProxy, scraped by Prometheus.

    Example::

        with LocalCluster("model_repository") as cluster:
            print(cluster.balancer.url, cluster.queue_time())
    """

    def __init__(self, repository: str | os.PathLike[str], settings: ClusterSettings = ClusterSettings(),
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.repository = Path(repository).resolve()
        self.settings = settings
        self.log = log
        self.query = chart.queue_time_query(window=settings.window, release=settings.release,
                                            namespace=settings.namespace)
        self.workdir: Path | None = None
        self.servers: list[LocalTriton] = []
        self.replicas: list[Replica] = []
        self._metrics_ports: list[int] = []
        self.balancer: Balancer | None = None
        self.prometheus: Prometheus | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        """Start the replicas, the balancer and Prometheus; wait until all are ready and scraped."""
        if not self.repository.is_dir():
            raise ClusterError(f"{self.repository} is not a folder: export a model first (python -m export).")
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix="tritonize-cluster-"))
            ports = iter(free_ports(3 * self.settings.replicas + 2))
            for index in range(self.settings.replicas):
                copy = self.workdir / f"replica-{index}" / "model_repository"
                shutil.copytree(self.repository, copy, symlinks=True)
                http, grpc, metrics = next(ports), next(ports), next(ports)
                server = LocalTriton(copy, http_port=http, grpc_port=grpc, metrics_port=metrics,
                                     ready_timeout=self.settings.ready_timeout, gpu_count=0,
                                     log_path=self.workdir / f"replica-{index}" / "tritonserver.log")
                self.servers.append(server)
                self.replicas.append(Replica(f"{self.settings.release}-{index}", http))
                self._metrics_ports.append(metrics)
            for index in range(self.settings.replicas):
                self._start_replica(index)
            self.balancer = Balancer(BalancerSettings(port=next(ports)), self.replicas, self.workdir)
            service = chart_metrics_service(self.settings.release)
            targets = [Target(port, {"namespace": self.settings.namespace, "service": service, "pod": replica.name})
                       for port, replica in zip(self._metrics_ports, self.replicas)]
            self.prometheus = Prometheus(targets, next(ports), self.workdir, self.settings.scrape_interval)
            self.prometheus.wait_targets_up(len(targets))
            for replica in self.replicas:
                self.wait_in_rotation(replica.name)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything that was started; idempotent."""
        for part in (self.prometheus, self.balancer):
            if part is not None:
                part.stop()
        self.prometheus = self.balancer = None
        for server in self.servers:
            server.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # -- what happens to replicas ----------------------------------------------------------------------------

    def queue_time(self) -> float | None:
        """The chart's autoscaling query, evaluated by Prometheus now (µs per request; None without data)."""
        assert self.prometheus is not None
        return self.prometheus.query(self.query)

    def kill(self, index: int) -> None:
        """Kill replica ``index`` without warning (SIGKILL to Triton and its backend stubs), as a crashed pod."""
        server = self.servers[index]
        if server.pid is None:
            raise ClusterError(f"replica {index} is not running")
        self.log(f"killing {self.replicas[index].name} (pid {server.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        server.stop()

    def restart(self, index: int) -> None:
        """Start replica ``index`` again on its ports and wait until the balancer routes to it."""
        self._start_replica(index)
        self.wait_in_rotation(self.replicas[index].name)

    def roll(self, index: int) -> int:
        """Roll replica ``index`` to a new model version, as a rolling update replaces a pod.

        The balancer stops sending it new requests (drain), in-flight ones finish, the replica stops, its
        repository gets the new version, and it starts again; the balancer routes to it once it is ready.

        Returns:
            The new version number.
        """
        assert self.balancer is not None
        name = self.replicas[index].name
        self.balancer.set_state(name, "drain")
        deadline = time.monotonic() + 30
        while int(self.balancer.servers()[name]["scur"] or 0) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.servers[index].stop()
        version = add_version(self.servers[index].repository)
        self.log(f"{name}: version {version}")
        self._start_replica(index)
        self.balancer.set_state(name, "ready")
        self.wait_in_rotation(name)
        return version

    def wait_in_rotation(self, name: str, timeout: float = 60.0) -> None:
        """Wait until the balancer's health checks have put ``name`` in rotation (status UP)."""
        assert self.balancer is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.balancer.servers()[name]["status"] == "UP":
                return
            time.sleep(0.1)
        raise ClusterError(f"the balancer did not put {name} back in rotation within {timeout:g} s")

    def retries(self) -> int:
        """Requests the balancer retried or sent to another replica so far."""
        assert self.balancer is not None
        return sum(int(s["wretr"] or 0) + int(s["wredis"] or 0) for s in self.balancer.servers().values())

    def served_versions(self, model: str) -> list[list[str]]:
        """Per replica, the versions of ``model`` that are ready (asked of each replica directly)."""
        return [json.loads(get(f"http://{s.http_url}/v2/models/{model}"))["versions"] for s in self.servers]

    def _start_replica(self, index: int) -> None:
        began = time.perf_counter()
        self.servers[index].start()
        self.log(f"{self.replicas[index].name} ready in {time.perf_counter() - began:.1f} s "
                 f"(http {self.servers[index].ports['http']}, metrics {self.servers[index].ports['metrics']})")


def chart_metrics_service(release: str) -> str:
    """The metrics Service the chart names for ``release`` (the chart's default full name)."""
    objects = chart.render(release=release)
    services = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"
                and o["metadata"]["labels"].get("tritonize.io/port") == "metrics"]
    if len(services) != 1:
        raise ClusterError(f"the chart rendered {len(services)} metrics Services")
    return services[0]
