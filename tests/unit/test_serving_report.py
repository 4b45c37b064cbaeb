"""The serving benchmark's report keeps what was measured and names a level perf_analyzer failed on."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import serving_report as report
from benchmarks.cpu_split import CpuSplit
from benchmarks.inprocess import LayoutResult
from client.bench_report import LevelResult


def corpus_result() -> report.CorpusResult:
    ceiling = LayoutResult(2, 1, 1, 200.0)
    served = LevelResult("minilm_fp32", 16, None, 180.0, 80.0, 90.0, 99.0, 85.0, 5.0, 30.0, 50.0)
    bulk = report.BulkResult(1000, 5.0, LayoutResult(2, 1, 16, 250.0, sorted_by_length=True))
    used = CpuSplit({"minilm_fp32_onnx": 0.8, "minilm_fp32_tokenizer": 0.05, "triton": 0.05}, 0.1)
    failed = report.FailedLevel(32, "perf_analyzer failed on minilm_fp32 at c32: Failed to obtain stable measurement")
    return report.CorpusResult("short", (ceiling,), (served,), bulk, 0.01, (used,), (failed,))


def test_a_failed_level_is_named_and_the_measured_ones_stay(tmp_path: Path) -> None:
    variant = report.VariantResult("fp32", "minilm_fp32", 0.9999, 0.99995, (corpus_result(),))
    serving = report.ServingReport((variant,), tmp_path, {"plan": {"protocol": "http", "tuning": {}}, "cpus": 2})
    text = report.markdown(serving)
    assert "| served c16 | served c32 |" in text
    assert "| 180 (0.90) | failed¹ | 200 (0.80 of 250) |" in text
    assert "¹ fp32 short c32: perf_analyzer failed on minilm_fp32 at c32: Failed to obtain stable" in text
    report.write(serving)
    assert {"summary.json", "summary.md", "throughput.png", "cpu_split.png"} <= {p.name for p in tmp_path.iterdir()}
    saved = json.loads((tmp_path / "summary.json").read_text())["variants"][0]["corpora"][0]
    assert saved["failed"] == [{"concurrency": 32, "reason": corpus_result().failed[0].reason}]
