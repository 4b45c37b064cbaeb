"""The serving benchmark runs end to end on a tiny model: short windows, no assertions on speed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import serving
from benchmarks.serving import Plan
from benchmarks.tuning import Tuning, apply_tuning, batching_settings
from export.settings import DEFAULT_BATCHING
from export.triton_config import parse
from tests.conftest import export_into

PNG = b"\x89PNG\r\n\x1a\n"


def test_serving_benchmark_end_to_end(tiny_models: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(variants=("fp32", "int8"), model=str(tiny_models["bert-sentence"]), name="tiny", concurrency=(1, 2),
                texts=48, measurement_interval_ms=300, stability_percentage=60, max_trials=4, batch_sizes=(4,),
                sorted_batch_size=4, repeats=1,
                tuning=Tuning(pad_to_multiple_of=1, max_queue_delay_us=0, instance_count=2, ragged=True))
    lines: list[str] = []
    result = serving.run(plan, tmp_path, lines.append)
    variant, int8 = result.variants
    assert [r.concurrency for r in variant.levels] == [1, 2]
    assert [p.label for p in variant.points] == ["batch 1, natural lengths", "batch 4, natural lengths",
                                                 "batch 4, natural lengths, sorted"]
    assert variant.offline is not None and not variant.ceiling.sorted_by_length
    assert variant.min_cosine is not None and variant.min_cosine > 0.999
    assert variant.corpus_min_cosine is None and 0.9 < int8.corpus_min_cosine <= int8.corpus_mean_cosine <= 1.0001
    assert any("c2:" in line for line in lines) and lines[0].startswith("[1/2 fp32] exporting")
    assert any(line.startswith("[2/2 int8] cosine vs fp32 on 48 texts") for line in lines)

    folder = result.folder
    assert folder.parent == tmp_path and folder.name.startswith("serving-")
    for png in ("throughput.png", "throughput_vs_p99.png", "latency_breakdown.png"):
        assert (folder / png).read_bytes()[:8] == PNG
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["texts"] == 48 and summary["cpus"] >= 1
    assert summary["plan"]["tuning"] == {"pad_to_multiple_of": 1, "max_queue_delay_us": 0, "instance_count": 2,
                                         "ragged": True}
    record = summary["variants"][0]
    assert [v["variant"] for v in summary["variants"]] == ["fp32", "int8"]
    assert record["ratio"] > 0 and record["p99_over_p50"] >= 1
    assert {"batch_size", "sentences_per_s"} <= set(record["ceiling"])
    table = (folder / "summary.md").read_text()
    assert "| variant | min cos | mean cos | corpus cos vs fp32 (min / mean) | in-process ceiling" in table
    assert "| fp32 | 2 |" in table and "| int8 | 2 |" in table
    benches = sorted((folder / "perf_analyzer").iterdir())  # client bench's own CSV, JSON and plots per variant
    assert [b.name.rsplit("-", 2)[0] for b in benches] == ["tiny_fp32", "tiny_int8"]
    assert all((b / "perf_analyzer.csv").is_file() and (b / "summary.json").is_file() for b in benches)


def test_knobs_reach_the_exported_configs(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    assert batching_settings(Tuning()) == DEFAULT_BATCHING["cpu"]
    assert batching_settings(Tuning(pad_to_multiple_of=4, preferred_batch_sizes=(4, 8))) == replace(
        DEFAULT_BATCHING["cpu"], pad_to_multiple_of=4, preferred_batch_sizes=(4, 8))
    result = export_into(tmp_path, str(tiny_models["bert-base"]), "knobs", formats=("onnx",))
    apply_tuning(tmp_path, result.names, Tuning(intra_op_threads=1, tokenizer_instances=2,
                                                tokenizer_queue_delay_us=0, ragged=True))
    onnx = parse((tmp_path / "knobs_onnx" / "config.pbtxt").read_text())
    assert onnx.parameters["intra_op_thread_count"].string_value == "1"
    assert all(t.allow_ragged_batch for t in onnx.input)
    tokenizer = parse((tmp_path / "knobs_tokenizer" / "config.pbtxt").read_text())
    assert [g.count for g in tokenizer.instance_group] == [2]
    assert tokenizer.dynamic_batching.max_queue_delay_microseconds == 0


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serving.main(["--variants", "fp32,fp8"])
    assert exit_info.value.code == 2
    assert "unknown variant(s) fp8" in capsys.readouterr().err
    parser_help = serving.__doc__ or ""
    assert "python -m benchmarks.serving" in parser_help


def test_tuning_sweep_table_and_plot(tmp_path: Path) -> None:
    from benchmarks import tuning_sweep

    assert tuning_sweep.STEPS["cpu defaults"] == Tuning() and tuning_sweep.STEPS["before"].instance_count == 1
    rows = [{"step": step, "knobs": tuning_sweep.STEPS[step].changed(), "ceiling": 200.0, "served": served,
             "ratio": served / 200, "p50_ms": 80.0, "p99_ms": 120.0, "tail": 1.5, "c1_throughput": 100.0,
             "c1_p50_ms": 9.0} for step, served in (("before", 150.0), ("cpu defaults", 225.0))]
    table = tuning_sweep.markdown(rows)
    assert "| before | pad_to_multiple_of=16, max_queue_delay_us=2000, instance_count=1 | 200 | 150 | 0.75 | 1.00 |" \
        in table
    assert "| cpu defaults | exporter defaults (cpu) | 200 | 225 | 1.12 | 1.50 |" in table
    tuning_sweep.plot(rows, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes().startswith(PNG)
