"""`client bench` drives the real perf_analyzer against the real local Triton and writes its reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from client.bench import parse_levels
from client.cli import cli
from client.corpus import corpus, sentences
from client.errors import UsageProblem
from client.perf_analyzer import LoadLevel
from server.local import LocalTriton

SHORT = ["--concurrency", "2,1", "--measurement-interval", "1000", "--stability-percentage", "900", "--max-trials", "4"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def triton(tiny_repository: Path):
    with LocalTriton(tiny_repository) as server:
        yield server


def bench(url: str, protocol: str, out: Path, *args: str):
    return CliRunner().invoke(cli, ["--url", url, "--protocol", protocol, "bench", *args, *SHORT,
                                    "--output-dir", str(out)])


def check_outputs(folder: Path, models: list[str]) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [
        "latency_breakdown.png", "perf_analyzer.csv", "raw", "summary.json", "summary.md", "throughput_vs_p99.png"]
    for png in ("latency_breakdown.png", "throughput_vs_p99.png"):
        assert (folder / png).read_bytes()[:8] == PNG
    with (folder / "perf_analyzer.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Model"], float(r["Concurrency"])) for r in rows] == sorted(
        (m, c) for m in models for c in (1.0, 2.0))  # re-sorted by model and concurrency
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["texts"] == 512 and summary["median_words"] > 5
    assert all(r["throughput"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0 for r in summary["results"])
    table = (folder / "summary.md").read_text()
    assert "| model | concurrency | infer/s | p50 ms | p90 ms | p99 ms | queue ms | compute ms |" in table


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_bench_text_ensemble(triton: LocalTriton, protocol: str, tmp_path: Path) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    result = bench(url, protocol, tmp_path, "tiny_emb")
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    check_outputs(folder, ["tiny_emb"])
    assert "tiny_emb c1:" in result.output and "infer/s" in result.output
    # The ensemble's time is split by step from Triton's statistics, not left as "client + network".
    for level in json.loads((folder / "summary.json").read_text())["results"]:
        steps = [(s["model"], s["requests"] > 0, s["compute_ms"] > 0) for s in level["stages"]]
        assert steps == [("tiny_emb_tokenizer", True, True), ("tiny_emb_onnx", True, True)]
        assert level["compute_ms"] == pytest.approx(sum(s["compute_ms"] for s in level["stages"]))
        assert level["queue_ms"] + level["compute_ms"] + level["client_ms"] >= level["avg_ms"] * 0.999
    assert "| tiny_emb | 1 | tiny_emb_onnx |" in (folder / "summary.md").read_text()


def test_bench_tensor_model_compared_with_its_ensemble(triton: LocalTriton, tiny_repository: Path,
                                                       tmp_path: Path) -> None:
    result = bench(triton.http_url, "http", tmp_path, "tiny_cls_onnx", "--compare", "tiny_cls",
                   "--tokenizer", str(tiny_repository / "tiny_cls_tokenizer"))
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    assert folder.name.startswith("tiny_cls_onnx-vs-tiny_cls-")
    check_outputs(folder, ["tiny_cls_onnx", "tiny_cls"])
    data = json.loads((folder / "raw" / "tiny_cls_onnx-input.json").read_text())
    first = data["data"][0]
    assert set(first) == {"input_ids", "attention_mask", "token_type_ids"}
    assert first["input_ids"]["shape"][0] % 8 == 0  # padded exactly like the tokenizer model


def test_tensor_model_needs_a_tokenizer(triton: LocalTriton, tmp_path: Path) -> None:
    result = bench(triton.http_url, "http", tmp_path, "tiny_cls_onnx")
    assert result.exit_code == 2
    assert "Model 'tiny_cls_onnx' takes token tensors: pass --tokenizer PATH" in result.output


def test_missing_model_is_reported_before_measuring(triton: LocalTriton, tmp_path: Path) -> None:
    result = bench(triton.http_url, "http", tmp_path, "nope")
    assert result.exit_code == 1
    assert "Model 'nope' not found" in result.output
    assert not list(tmp_path.iterdir())


def test_levels_and_corpus() -> None:
    assert parse_levels("1,4", None) == [LoadLevel(concurrency=1), LoadLevel(concurrency=4)]
    assert parse_levels(None, "50,100") == [LoadLevel(request_rate=50), LoadLevel(request_rate=100)]
    with pytest.raises(UsageProblem, match="Load levels must be positive numbers separated by commas, not '0,x'"):
        parse_levels("0,x", None)
    assert len(sentences()) > 1000
    assert corpus(5) == corpus(5) and len(set(corpus(512))) == 512
