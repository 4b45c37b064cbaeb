"""`python -m export` end to end: exit codes and exact messages for what users get wrong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from export.cli import main
from export.summary import release_notes
from tritonize.releases import DEFAULT_RELEASE, release


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export", *args], capture_output=True, text=True, timeout=300)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_help_documents_every_option_with_defaults() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--repository", "--name", "--task", "--format", "--ensemble-format", "--revision",
                   "--trust-remote-code", "--max-batch-size", "--max-queue-delay-us", "--pad-to-multiple-of",
                   "--instance-kind", "--instance-count", "--version", "--force", "--atol", "--debug"):
        assert option in result.output
    assert "env var: TRITONIZE_REPOSITORY" in result.output
    assert "default: 64" in result.output


def test_missing_folder(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope"), "--repository", str(tmp_path / "repo"))
    assert result.returncode == 1
    assert last_line(result.stderr) == f"Error: Model folder '{tmp_path / 'nope'}' does not exist."
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "repo").exists()


def test_unreachable_hub_id(tmp_path: Path) -> None:
    result = run("no-such-org/no-such-model", "--repository", str(tmp_path / "repo"))
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert line.startswith("Error: Could not fetch 'no-such-org/no-such-model' from the Hugging Face Hub (")
    assert line.endswith("pass its local folder instead: python -m export ./path/to/no-such-model")
    assert "Traceback" not in result.stderr


def test_unknown_task_is_a_usage_error(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "--task", "translation"])
    assert result.exit_code == 2
    assert "Invalid value for '--task': 'translation' is not one of 'feature-extraction', " \
           "'text-classification', 'token-classification', 'text-ranking', 'sparse-embedding', " \
           "'multi-vector', 'image-classification', 'image-feature-extraction'." in result.output


def test_task_needing_a_missing_head(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "--task", "text-classification",
                                       "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert last_line(result.output) == (
        "Error: Task 'text-classification' needs a model with that head, but this model is 'feature-extraction'. "
        "Supported tasks here: feature-extraction."
    )


def test_language_model_head_is_not_an_exported_task(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    result = CliRunner().invoke(main, [str(folder), "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert last_line(result.output) == (
        "Error: 'GPT2LMHeadModel' is a text model (text generation): tritonize does not export it yet. On Triton, "
        "generation models are served by the vLLM backend or the TensorRT-LLM backend. tritonize exports text "
        "encoders: embeddings (*Model, sentence-transformers folders), *ForSequenceClassification, "
        "*ForTokenClassification, cross-encoders and SPLADE sparse encoders; and image models from encoded image "
        "bytes: *ForImageClassification, image embeddings (an image family's *Model, *VisionModelWithProjection), "
        "CLIP/SigLIP image and text towers."
    )


def test_architecture_transformers_cannot_load_fails_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "unknown"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-family", "architectures": ["FooModel"]}))
    (folder / "model.safetensors").write_bytes(b"")  # weights are there: the family is what transformers lacks
    result = CliRunner().invoke(main, [str(folder), "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert last_line(result.output).startswith("Error: Cannot load 'FooModel' with transformers: ")
    assert not (tmp_path / "repo").exists()


def test_unsupported_head(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    config = json.loads((tiny_models["bert-base"] / "config.json").read_text())
    folder = tmp_path / "qa"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["BertForQuestionAnswering"]}))
    result = CliRunner().invoke(main, [str(folder), "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert "Error: 'BertForQuestionAnswering' is a text model (extractive question answering): tritonize does not " \
           "export it yet." in result.output


@pytest.mark.parametrize("name", ["a/b", "../escape", "with space", "a\\b"])
def test_name_with_path_separators(name: str, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "--name", name,
                                       "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 2
    assert last_line(result.output) == (
        f"Error: Invalid model name '{name}': use letters, digits, '_', '-' and '.', starting with a letter or "
        f"digit (no path separators)."
    )


def test_verification_failure_writes_nothing(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    result = CliRunner().invoke(main, [str(tiny_models["bert-sentence"]), "--repository", str(repository),
                                       "--atol", "0", "--min-cosine", "1"])
    assert result.exit_code == 1
    assert "FAILED" in result.output  # the table is printed before the error
    assert re.fullmatch(
        r"Error: Verification failed: onnx \(fp32\) output 'embeddings' differs from PyTorch: max \|diff\| "
        r"[0-9.e+-]+ \(atol 0\), min cosine [0-9.]+ \(gate 1\.0\)\. Nothing was written\.",
        last_line(result.output),
    )
    assert not repository.exists()


def test_success_prints_table_files_and_how_to_serve(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    result = CliRunner().invoke(main, [str(tiny_models["bert-classifier"]), "--repository", str(repository),
                                       "--name", "reviews", "--format", "onnx", "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    assert "Exported" in result.output and "(text-classification) as version 1" in result.output
    assert re.search(r"^onnx +fp32 +logits .* ok$", result.output, re.M)
    ort = re.escape(release(DEFAULT_RELEASE).onnxruntime)
    assert re.search(rf"^onnx@ort-{ort} +fp32 +probabilities .* ok$", result.output, re.M)
    assert f"note: target Triton {release(DEFAULT_RELEASE).triton}" in result.output, "what the local 2.51 changes"
    assert "warning:" not in result.output, "the default release has no known critical/high bulletin"
    assert re.search(r"^torchscript +fp32 +probabilities .* ok$", result.output, re.M)
    assert "reviews_onnx/1/model.onnx" in result.output
    assert f"python -m server --repository {repository}" in result.output
    assert sorted(p.name for p in repository.iterdir()) == [
        "reviews", "reviews_onnx", "reviews_tokenizer", "reviews_torchscript"]


def test_repository_from_environment(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "from-env"
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "-q"],
                                env={"TRITONIZE_REPOSITORY": str(repository)})
    assert result.exit_code == 0, result.output
    assert (repository / "bert_base" / "config.pbtxt").is_file()


@pytest.mark.parametrize(("args", "expected"), [
    (["--instance-kind", "cpu"], (500, 3, "1")),  # one-step: no length buckets
    (["--instance-kind", "cpu", "--serving", "ensemble"], (500, 3, "8")),
    (["--instance-kind", "gpu"], (2000, 1, "16")),
    (["--instance-kind", "cpu", "--max-queue-delay-us", "0", "--instance-count", "1", "--pad-to-multiple-of", "4"],
     (0, 1, "4")),
])
def test_batching_defaults_follow_the_instance_kind(tiny_models: dict[str, Path], tmp_path: Path,
                                                    args: list[str], expected: tuple[int, int, str]) -> None:
    from tritonize.repo_format.pbtxt import parse

    repository = tmp_path / "repo"
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "--repository", str(repository), "--name", "m",
                                       "--skip-release-check", "-q", *args])
    assert result.exit_code == 0, result.output
    one_step = "cpu" in args and "ensemble" not in args  # one model NAME
    assert (repository / "m_onnx").exists() != one_step and (repository / "m_tokenizer").exists() != one_step
    model = parse((repository / ("m" if one_step else "m_onnx") / "config.pbtxt").read_text())
    tokenizer = parse((repository / ("m" if one_step else "m_tokenizer") / "config.pbtxt").read_text())
    assert (model.dynamic_batching.max_queue_delay_microseconds, model.instance_group[0].count,
            tokenizer.parameters["pad_to_multiple_of"].string_value) == expected


def test_serving_path_is_shown_and_one_step_is_refused_where_it_cannot_apply(tiny_models: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    common = [str(tiny_models["bert-base"]), "--repository", str(repository), "--skip-release-check",
              "--skip-load-check", "--instance-kind"]
    result = CliRunner().invoke(main, [*common, "cpu", "--name", "one"])
    assert result.exit_code == 0, result.output
    assert "  serving   one-step: default for CPU ONNX text exports" in result.output
    assert "  one-step  one: TEXT BYTES [1] → embeddings FP32 [32]" in result.output
    result = CliRunner().invoke(main, [*common, "cpu", "--name", "ens", "--serving", "ensemble"])
    assert result.exit_code == 0 and "  serving   ensemble: asked with --serving ensemble" in result.output
    result = CliRunner().invoke(main, [*common, "gpu", "--name", "gpu"])
    assert "  serving   ensemble: default: GPU instances keep the ensemble" in result.output
    result = CliRunner().invoke(main, [*common, "gpu", "--name", "refused", "--serving", "one-step", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: --serving one-step does not apply here: GPU instances keep the ensemble (the ONNX Runtime backend "
        "runs the model on the GPU; the Python backend's ONNX Runtime is CPU-only). Leave it out or pass "
        "--serving ensemble."]
    assert not (repository / "refused").exists()


def test_tokenizer_and_thread_options_reach_the_configs(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from tritonize.repo_format.pbtxt import read_config

    repository = tmp_path / "repo"
    result = CliRunner().invoke(main, [str(tiny_models["bert-base"]), "--repository", str(repository), "--name", "m",
                                       "--skip-release-check", "-q", "--threads-per-instance", "1",
                                       "--tokenizer-instance-count", "2", "--tokenizer-queue-delay-us", "0"])
    assert result.exit_code == 0, result.output
    assert read_config(repository / "m_onnx").parameters["intra_op_thread_count"].string_value == "1"
    tokenizer = read_config(repository / "m_tokenizer")
    assert [g.count for g in tokenizer.instance_group] == [2]
    assert tokenizer.dynamic_batching.max_queue_delay_microseconds == 0


def test_summary_warns_for_an_affected_release_and_says_what_the_local_server_changes() -> None:
    warning, blank = release_notes("24.10")  # the local server's own release: nothing differs
    assert warning.startswith("warning: Triton 24.10 has") and "CVE-2025-23310" in warning and blank == ""
    warning, note, _ = release_notes("25.03")
    assert "CVE-2025-23310" in warning
    assert note.startswith("note: target Triton 2.56.0 (25.03) runs ONNX Runtime 1.21.0")
    assert release_notes("26.08")[0].startswith("note: target Triton 2.72.0 (26.08) runs ONNX Runtime 1.28.0")
