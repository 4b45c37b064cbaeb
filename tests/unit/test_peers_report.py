"""The peers benchmark's arithmetic: medians over cycles, ratios inside a cycle, served/ceiling, the infinity patch."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import peers_report as report
from benchmarks.http_load import LevelStats, embeddings_target, kserve_target
from benchmarks.peer_envs import patch_infinity


def _run(server: str, cycle: int, rps: float, p50: float, concurrency: int = 16, corpus: str = "short") -> report.Run:
    answered = int(rps * 10)
    return report.Run(server, corpus, cycle, LevelStats(concurrency, 10.0, answered, 0, p50, p50 * 2))


def _report(runs: list[report.Run], tmp_path: Path) -> report.PeersReport:
    return report.PeersReport(tuple(runs), {"short": (400.0, "1 session × 2 threads, batch 8")},
                              {report.TRITONIZE: 0.99999}, {"cpus": 2}, tmp_path)


def test_ratios_are_taken_inside_a_cycle_then_the_median(tmp_path: Path) -> None:
    # Cycle 2 ran on a slower machine for both: per-cycle ratios stay 2.0 although medians of each differ.
    runs = [_run(report.TRITONIZE, 1, 400, 5), _run(report.INFINITY, 1, 200, 9),
            _run(report.TRITONIZE, 2, 100, 20), _run(report.INFINITY, 2, 50, 40),
            _run(report.TRITONIZE, 3, 300, 6), _run(report.INFINITY, 3, 150, 12)]
    peers = _report(runs, tmp_path)
    assert peers.ratio(report.TRITONIZE, report.INFINITY, 16) == pytest.approx(2.0)
    assert peers.ratio(report.TRITONIZE, report.INFINITY, 16, "p50_ms") == pytest.approx(0.5)
    assert peers.median(report.TRITONIZE, 16, "requests_per_s") == pytest.approx(300)
    assert peers.served_over_ceiling("short") == pytest.approx(0.75)
    assert peers.served_over_ceiling("long") is None
    assert peers.ratio(report.TRITONIZE, report.NAIVE, 16) is None


def test_markdown_and_files(tmp_path: Path) -> None:
    runs = [_run(report.TRITONIZE, 1, 120, 8, 1), _run(report.NAIVE, 1, 110, 9, 1),
            _run(report.TRITONIZE, 1, 400, 40), _run(report.NAIVE, 1, 80, 200)]
    peers = _report(runs, tmp_path / "out")
    text = report.markdown(peers)
    assert "| server | c1 | c16 |" in text
    assert "| tritonize / naive FastAPI req/s | 1.09× | 5.00× |" in text
    assert "served c16 / in-process ceiling, short texts: 1.00×" in text
    report.write(peers)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"peers.json", "peers.md", "peers.png"}


def test_request_bodies() -> None:
    triton = kserve_target("t", "http://127.0.0.1:8000/", "minilm")
    assert triton.url == "http://127.0.0.1:8000/v2/models/minilm/infer"
    assert triton.body("hé") == {"inputs": [{"name": "TEXT", "shape": [1, 1], "datatype": "BYTES", "data": ["hé"]}]}
    assert kserve_target("t", "h:8000", "m", outputs=("embeddings",)).body("x")["outputs"] == [{"name": "embeddings"}]
    assert embeddings_target("i", "http://h:1", "m").body("x") == {"model": "m", "input": ["x"]}


def test_infinity_patch_passes_a_file_name_once(tmp_path: Path) -> None:
    module = tmp_path / "lib" / "python3.11" / "site-packages" / "infinity_emb" / "transformer" / "embedder"
    module.mkdir(parents=True)
    (module / "optimum.py").write_text("model = load(\n    file_name=onnx_file.as_posix(),\n)\n")
    patch_infinity(tmp_path)
    patch_infinity(tmp_path)  # idempotent
    assert (module / "optimum.py").read_text() == "model = load(\n    file_name=onnx_file.name,\n)\n"
    (module / "optimum.py").write_text("something else\n")
    with pytest.raises(RuntimeError, match="no `file_name=onnx_file.as_posix\\(\\)` to patch"):
        patch_infinity(tmp_path)
