"""Two local Triton replicas behind a real HAProxy, scraped by a real Prometheus, with the chart's own query."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from deploy import chart
from deploy.cluster import ClusterSettings, LocalCluster, add_version
from deploy.haproxy import BalancerSettings, Replica, render_config
from deploy.prometheus import Target, config
from deploy.scenario import ScenarioReport, run_scenario, table, window_seconds
from tests.support.exports import export_into

MODEL = "tiny_cls"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    repository = tmp_path_factory.mktemp("cluster") / "model_repository"
    export_into(repository, str(tiny_models["bert-classifier"]), MODEL, formats=("onnx",))
    return repository


@pytest.fixture(scope="module")
def scenario(repository: Path) -> tuple[ScenarioReport, dict]:
    """The whole scenario once: load, a killed replica, a rolling update; and what was left running after."""
    settings = ClusterSettings(replicas=2, window="4s", scrape_interval="1s")
    with LocalCluster(repository, settings) as cluster:
        started = {"workdir": cluster.workdir, "pids": [s.pid for s in cluster.servers],
                   "haproxy": cluster.balancer.pid, "prometheus": cluster.prometheus.pid,
                   "haproxy_config": cluster.balancer.config_path.read_text()}
        report = run_scenario(cluster, MODEL, workers=3, load_seconds=5)
    return report, started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_query_is_the_charts_and_rises_under_load_and_falls_after(scenario: tuple[ScenarioReport, dict]) -> None:
    report, _ = scenario
    assert report.query == chart.queue_time_query(window="4s")
    before, during, after = (report.metric[m] for m in ("before", "during", "after"))
    assert before == 0.0
    assert during is not None and during > 0.0
    assert after is not None and after < during
    assert after == 0.0


def test_killing_a_replica_under_load_fails_no_request(scenario: tuple[ScenarioReport, dict]) -> None:
    report, _ = scenario
    kill = report.phases["kill"]
    assert kill.requests > 50
    assert kill.failed == 0, kill.errors
    assert report.retries["kill"] > 0, "requests to the killed replica were retried on the other one"


def test_rolling_a_new_version_fails_no_request(scenario: tuple[ScenarioReport, dict]) -> None:
    report, _ = scenario
    rollout = report.phases["rollout"]
    assert rollout.requests > 50
    assert rollout.failed == 0, rollout.errors
    assert report.versions == [["2"], ["2"]]
    assert report.failed == 0
    assert "rollout" in table(report)


def test_everything_started_is_stopped(scenario: tuple[ScenarioReport, dict]) -> None:
    _, started = scenario
    assert not started["workdir"].exists()
    for pid in [*started["pids"], started["haproxy"], started["prometheus"]]:
        assert not alive(pid), pid


def test_balancer_checks_readiness_and_retries_elsewhere(scenario: tuple[ScenarioReport, dict]) -> None:
    _, started = scenario
    text = started["haproxy_config"]
    assert "option httpchk GET /v2/health/ready" in text
    assert "option redispatch 1" in text
    assert "bind 127.0.0.1:" in text
    assert text.count(" check\n") == 2


def test_config_renderers() -> None:
    text = render_config(BalancerSettings(port=9000, retries=2), [Replica("a", 1), Replica("b", 2)], Path("/s"))
    assert "    server a 127.0.0.1:1 check\n    server b 127.0.0.1:2 check\n" in text
    assert "retries 2" in text
    scrape = config([Target(5, {"pod": "a"})], "1s")
    assert yaml.safe_load(yaml.safe_dump(scrape))["scrape_configs"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:5"], "labels": {"pod": "a"}}]
    assert window_seconds("30s") == 30 and window_seconds("1m") == 60 and window_seconds("500ms") == 0.5


def test_add_version_copies_the_newest(tmp_path: Path, repository: Path) -> None:
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(repository, copy)
    assert add_version(copy) == 2
    assert sorted(p.name for p in (copy / f"{MODEL}_onnx").iterdir() if p.is_dir()) == ["1", "2"]
    assert (copy / f"{MODEL}_onnx" / "2" / "model.onnx").read_bytes() == (
        repository / f"{MODEL}_onnx" / "1" / "model.onnx").read_bytes()
