"""The scale-out scenario on a local cluster: load, the autoscaling metric, a killed replica, a rolling update."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from deploy.balancer_load import Load, PhaseCount
from deploy.cluster import LocalCluster

#: The phases, in order: load until the metric has risen, one replica killed and restarted, a rolling update.
PHASES = ("load", "kill", "rollout")


@dataclass
class ScenarioReport:
    """What the scenario measured.

    Attributes:
        phases: Requests, failures and latencies per phase.
        retries: Requests the balancer retried on another replica, per phase.
        metric: The chart's query before load, at its peak under load, and after load.
        versions: Per replica, the model versions ready after the rollout.
        query: The query as Prometheus evaluated it.
    """

    phases: dict[str, PhaseCount] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    metric: dict[str, float | None] = field(default_factory=dict)
    versions: list[list[str]] = field(default_factory=list)
    query: str = ""

    @property
    def failed(self) -> int:
        """Failed requests over all phases."""
        return sum(p.failed for p in self.phases.values())


def window_seconds(window: str) -> float:
    """A PromQL duration such as ``5s`` or ``1m`` in seconds (the simple forms the chart's schema allows)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if window.endswith(unit) and window[: -len(unit)].isdigit():
            return int(window[: -len(unit)]) * units[unit]
    raise ValueError(f"unsupported duration {window!r}")


def run_scenario(cluster: LocalCluster, model: str, workers: int = 4, load_seconds: float = 8.0,
                 max_seconds: float = 240.0, log: Callable[[str], None] = lambda line: None) -> ScenarioReport:
    """Run load through the balancer and, under it, kill a replica and roll a new version over all replicas.

    Args:
        cluster: A started cluster.
        model: Model to send requests to (an ensemble: text in).
        workers: Concurrent clients (closed loop, one request each at a time).
        load_seconds: How long the first phase loads the cluster before anything breaks.
        max_seconds: Bound on the whole load, whatever happens.
        log: Called with progress lines.
    """
    settle = window_seconds(cluster.settings.window) + 2 * window_seconds(cluster.settings.scrape_interval) + 0.5
    report = ScenarioReport(query=cluster.query)
    time.sleep(settle)
    report.metric["before"] = cluster.queue_time()
    log(f"queue time before load: {report.metric['before']}")
    load = Load(cluster.balancer.url, model, workers=workers, max_seconds=max_seconds)
    marks = {"load": cluster.retries()}
    load.start("load")
    peak = None
    try:
        until = time.monotonic() + max(load_seconds, settle)
        while time.monotonic() < until:
            value = cluster.queue_time()
            if value is not None and (peak is None or value > peak):
                peak = value
            time.sleep(0.5)
        report.metric["during"] = peak
        log(f"queue time under load (peak): {peak}")
        marks["kill"] = cluster.retries()
        load.phase("kill")
        cluster.kill(0)
        cluster.restart(0)
        time.sleep(1.0)
        marks["rollout"] = cluster.retries()
        load.phase("rollout")
        for index in range(len(cluster.servers)):
            cluster.roll(index)
        time.sleep(1.0)
    finally:
        report.phases = load.stop()
    marks["end"] = cluster.retries()
    ends = [*PHASES[1:], "end"]
    report.retries = {phase: marks[end] - marks[phase] for phase, end in zip(PHASES, ends)}
    time.sleep(settle)
    report.metric["after"] = cluster.queue_time()
    log(f"queue time after load: {report.metric['after']}")
    report.versions = cluster.served_versions(model)
    return report


def table(report: ScenarioReport) -> str:
    """The report as a text table."""
    lines = [f"{'phase':<10} {'requests':>9} {'failed':>7} {'retried':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for phase in PHASES:
        count = report.phases.get(phase, PhaseCount())
        lines.append(f"{phase:<10} {count.requests:>9} {count.failed:>7} {report.retries.get(phase, 0):>8} "
                     f"{count.percentile(50):>8.1f} {count.percentile(99):>8.1f}")
    lines.append("")
    lines.append("autoscaling metric (average queue time per request, µs):")
    for moment in ("before", "during", "after"):
        value = report.metric.get(moment)
        lines.append(f"  {moment + (' load (peak)' if moment == 'during' else ' load'):<20} "
                     f"{'no data' if value is None else f'{value:,.1f}'}")
    lines.append(f"  query: {report.query}")
    lines.append(f"model versions ready per replica after the rollout: {report.versions}")
    errors = sum((p.errors for p in report.phases.values()), start=Counter())
    for message, count in errors.most_common(5):
        lines.append(f"  failure x{count}: {message}")
    return "\n".join(lines)
