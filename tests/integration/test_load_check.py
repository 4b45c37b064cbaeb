"""The load check: the staged models served by the real local Triton before anything is swapped in."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from export.errors import VerificationError
from export.load_check import SERVED_ROW, verification_requests
from export.settings import DEFAULT_BATCHING
from export.signature import Task
from export.verify import VERIFICATION_BATCHES
from tests.support.exports import export_into
from tests.support.server import snapshot
from tests.support.tiny_models import make_bert

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("load-check") / "bert-classifier"
    folder.mkdir()
    return make_bert(folder, "text-classification")


def test_requests_are_the_verification_batches() -> None:
    texts = verification_requests(Task.TEXT_CLASSIFICATION)
    assert [len(r["TEXT"]) for r in texts] == [len(b) for b in VERIFICATION_BATCHES]
    pairs = verification_requests(Task.TEXT_RANKING)
    assert set(pairs[0]) == {"QUERY", "PASSAGE"} and len(pairs[-1]["QUERY"]) == len(VERIFICATION_BATCHES[-1])


def test_the_served_ensemble_is_a_verification_row(classifier: Path, tmp_path: Path) -> None:
    result = export_into(tmp_path / "repo", str(classifier), "checked", formats=("onnx", "torchscript"),
                         torchscript_release_check=False, release_check=False, load_check=True)
    served = [check for check in result.report.checks if check.artifact.startswith(SERVED_ROW)]
    assert [check.artifact for check in served] == ["served@triton-2.51"] * 2
    assert [check.output for check in served] == ["logits", "probabilities"]
    assert all(check.passed and check.max_abs_diff <= 1e-4 and check.texts == 16 for check in served)
    assert result.load_check.ran and result.load_check.note == "2.51.0" and 0 < result.load_check.seconds < 120
    assert (tmp_path / "repo" / "checked_onnx" / "1" / "model.onnx").is_file()
    assert not list(tmp_path.glob(".repo.staging-*"))


def test_a_model_triton_refuses_fails_the_export_with_its_reason_and_writes_nothing(classifier: Path,
                                                                                   tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    export_into(repository, str(classifier), "kept", formats=("onnx",), release_check=False)
    before = snapshot(repository)
    batching = replace(DEFAULT_BATCHING["cpu"], max_batch_size=16, preferred_batch_sizes=(128,))
    with pytest.raises(VerificationError) as refused:
        export_into(repository, str(classifier), "kept", formats=("onnx",), release_check=False, batching=batching,
                    load_check=True)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("Triton refuses the exported models: Poll failed for model directory 'kept_onnx': "
                              "dynamic batching preferred size must be <= max batch size for kept_onnx.")
    assert message.endswith("Nothing was written (pass --skip-load-check to export without this check).")
    assert snapshot(repository) == before
    assert not list(tmp_path.glob(".repo.staging-*"))


def test_cli_summary_says_what_the_check_did_and_when_it_was_skipped(classifier: Path, tmp_path: Path) -> None:
    """The summary line; skipped by option, and skipped where the local Triton is missing (another pytriton)."""
    fake = tmp_path / "site" / "pytriton"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    environment = {k: v for k, v in os.environ.items() if k != "TRITONIZE_SKIP_LOAD_CHECK"}
    runs = {
        "checked": ([], environment),
        "skipped": (["--skip-load-check"], environment),
        "missing": ([], {**environment, "PYTHONPATH": str(fake.parent)}),
    }
    for name, (flags, env) in runs.items():
        result = subprocess.run(
            [sys.executable, "-m", "export", str(classifier), "--repository", str(tmp_path / "repo"), "--name", name,
             "--instance-kind", "cpu", "--skip-release-check", *flags],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        line = next(line for line in result.stdout.splitlines() if line.startswith("Load check"))
        if name == "checked":
            assert line.startswith("Load check: Triton 2.51.0 loaded the staged models and answered the "
                                   "verification texts through the model clients call (")
            assert "served@triton-2.51" in result.stdout
        elif name == "skipped":
            assert line == "Load check skipped: --skip-load-check"
        else:
            assert line.startswith("Load check skipped: The bundled Triton Inference Server is incomplete (")
            assert "served@triton" not in result.stdout


@pytest.mark.parametrize("kind", ["reranker", "splade", "tagger"])
def test_every_task_is_served_and_compared(kind: str, tmp_path: Path) -> None:
    """Pairs (QUERY, PASSAGE), a sparse embedding's dense view, per-token logits behind the entities step."""
    from tests.support.tiny_models import make_cross_encoder, make_splade, make_tagger

    folder = tmp_path / kind
    folder.mkdir()
    {"reranker": make_cross_encoder, "splade": lambda p: make_splade(p, True), "tagger": make_tagger}[kind](folder)
    result = export_into(tmp_path / "repo", str(folder), kind, formats=("onnx",), release_check=False,
                         load_check=True)
    served = [check for check in result.report.checks if check.artifact == "served@triton-2.51"]
    assert served and all(check.passed for check in served)
