"""``python -m tune`` on a tiny exported model against the real local Triton, with a seconds-long budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.exports import export_into
from tritonize.repo_format.files import version_folders
from tritonize.repo_format.pbtxt import read_config
from tune.cli import main
from tune.knobs import Ensemble, read_knobs

pytestmark = pytest.mark.server

#: Short windows, loose stability: a smoke of the whole loop on a shared machine, not a measurement.
QUICK = ["--window-ms", "300", "--stability-percentage", "60", "--max-trials", "4", "--text-count", "64",
         "--overload-s", "0.5", "--max-concurrency", "4"]


@pytest.fixture()
def repository(tmp_path: Path, tiny_models: dict[str, Path]) -> Path:
    repository = tmp_path / "model_repository"
    export_into(repository, str(tiny_models["bert-sentence"]), "tiny", formats=("onnx",), release_check=False)
    return repository


def knobs_in(repository: Path):  # noqa: ANN201 - Knobs
    configs = {p.name: read_config(p) for p in repository.iterdir() if p.is_dir()}
    return read_knobs(configs, Ensemble.from_configs("tiny", configs))


def test_tune_measures_candidates_reports_them_and_writes_the_winner(repository: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(["a short question?", "a somewhat longer sentence about the weather today and "
                                "tomorrow, with more tokens in it"] * 16) + "\n")
    before = knobs_in(repository)
    result = CliRunner().invoke(main, ["tiny", "--repository", str(repository), "--texts", str(texts),
                                       "--p99-ms", "200", "--budget-s", "300", "--max-candidates", "3",
                                       "--output-dir", str(tmp_path / "out"), "--write", *QUICK])
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "out").iterdir())
    saved = json.loads((folder / "tune.json").read_text())
    assert (folder / "tune.png").stat().st_size > 10_000 and (folder / "tune.md").is_file()
    candidates = saved["candidates"]
    assert candidates[0]["axis"] == "start" and candidates[0]["knobs"]["instance_count"] == before.instance_count
    assert len([c for c in candidates if c["axis"] != "confirm"]) == 3
    assert all(c["levels"] for c in candidates if not c["failure"])
    assert any(stage["model"] == "tiny_onnx" for stage in candidates[0]["levels"][0]["stages"])  # per-step split
    assert "candidates in" in result.output and "Winner #" in result.output
    final = saved["final"]
    assert final is not None and final["max_queue_size"] >= 1 and final["queue_timeout_ms"] >= 1
    assert saved["overload"]["answered"] + saved["overload"]["refused"] > 0
    # The winner (with its queue policy) is what the repository now serves, in a new version of the models.
    assert any(note.startswith("Written: version 2 of") for note in saved["notes"])
    after = knobs_in(repository)
    assert (after.max_queue_size, after.queue_timeout_ms) == (final["max_queue_size"], final["queue_timeout_ms"])
    assert [p.name for p in version_folders(repository / "tiny_onnx")] == ["1", "2"]
    # A rerun with the same texts and target compares itself with this run.
    again = CliRunner().invoke(main, ["tiny", "--repository", str(repository), "--texts", str(texts),
                                      "--p99-ms", "200", "--budget-s", "0", "--output-dir", str(tmp_path / "out"),
                                      *QUICK])
    assert again.exit_code == 0, again.output
    assert "Rerun: the" in again.output


def test_ctrl_c_keeps_what_was_measured(repository: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tune", "tiny", "--repository", str(repository), "--p99-ms", "200",
               "--budget-s", "600", "--output-dir", str(tmp_path / "out"), *QUICK]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("candidate 2"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    saved = json.loads(next((tmp_path / "out").glob("*/tune.json")).read_text())
    assert saved["interrupted"] and saved["candidates"][0]["levels"]
    assert "Interrupted (Ctrl-C)" in out and "Traceback" not in err


def test_a_target_is_required(repository: Path) -> None:
    result = CliRunner().invoke(main, ["tiny", "--repository", str(repository)])
    assert result.exit_code == 2 and "Give one target" in result.output


def test_a_model_that_is_not_an_ensemble_is_refused(repository: Path) -> None:
    result = CliRunner().invoke(main, ["tiny_onnx", "--repository", str(repository), "--p99-ms", "50"])
    assert result.exit_code == 2 and "is not a text ensemble" in result.output


def test_tune_drives_a_running_triton_through_its_model_control_api(repository: Path, tmp_path: Path) -> None:
    import tritonclient.http as http

    from server.local import LocalTriton

    with LocalTriton(repository, model_control_mode="explicit") as server:
        client = http.InferenceServerClient(server.http_url.split("://")[-1])
        client.load_model("tiny")
        result = CliRunner().invoke(main, ["tiny", "--url", server.http_url, "--p99-ms", "200", "--budget-s", "8",
                                           "--output-dir", str(tmp_path / "out"), *QUICK])
        assert result.exit_code == 0, result.output
        saved = json.loads(next((tmp_path / "out").glob("*/tune.json")).read_text())
        assert saved["machine"]["url"] == server.http_url and saved["candidates"][0]["levels"]
        # The server now serves the last candidate loaded: the chosen queue policy, sent with the load request.
        served = client.get_model_config("tiny_onnx")["dynamic_batching"]["default_queue_policy"]
        assert int(served["max_queue_size"]) == saved["final"]["max_queue_size"]
        client.close()
    assert (repository / "tiny_onnx" / "1").is_dir() and not (repository / "tiny_onnx" / "2").exists()


def test_tune_at_a_required_rate_measures_one_rate_level_per_candidate(repository: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["tiny", "--repository", str(repository), "--min-throughput", "40",
                                       "--budget-s", "12", "--output-dir", str(tmp_path / "out"), *QUICK])
    assert result.exit_code == 0, result.output
    saved = json.loads(next((tmp_path / "out").glob("*/tune.json")).read_text())
    measured = [c for c in saved["candidates"] if c["levels"]]
    assert measured and all(len(c["levels"]) == 1 and c["levels"][0]["request_rate"] == 40 for c in measured)
    assert saved["candidates"][0]["score"]["feasible"]  # 40 texts/s is far below what the tiny model does
    assert "min p99 at 40 infer/s" in result.output


def test_tune_a_one_step_model_and_write_its_winner(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """The CPU default export (one model that tokenizes and runs ONNX Runtime): tuned and written in place,
    warm-up texts kept; an INT8 variant is exported on the same path and served as a version of it."""
    repository = tmp_path / "model_repository"
    export_into(repository, str(tiny_models["bert-sentence"]), "one", formats=("onnx",), release_check=False,
                serving=None)
    assert not (repository / "one_onnx").exists()
    result = CliRunner().invoke(main, ["one", "--repository", str(repository), "--p99-ms", "200", "--budget-s",
                                       "300", "--max-candidates", "3", "--quantize", "int8", "--source",
                                       str(tiny_models["bert-sentence"]), "--output-dir",
                                       str(tmp_path / "out"), "--write", *QUICK])
    assert result.exit_code == 0, result.output
    saved = json.loads(next((tmp_path / "out").glob("*/tune.json")).read_text())
    candidates = saved["candidates"]
    assert all(stage["model"] == "one" for stage in candidates[0]["levels"][0]["stages"])
    assert not {c["axis"] for c in candidates} & {"tokenizer_instance_count", "tokenizer_queue_delay_us"}
    assert any(note.startswith("Written: version 2 of one") for note in saved["notes"]), saved["notes"]
    assert [p.name for p in version_folders(repository / "one")] == ["1", "2"]
    assert (repository / "one" / "warmup" / "TEXT").is_file()
    assert sorted(p.name for p in repository.iterdir()) == ["one"]
