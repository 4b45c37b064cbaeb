"""sentence-transformers folders: every module is built or the export fails naming it; Matryoshka truncation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import export.postprocess_heads
from export.cli import main
from export.errors import UnsupportedModelError, VerificationError
from tests.support.exports import export_into, tokens_from_repository
from tests.support.tiny_families import BY_NAME_DENSE, make_family

TEXTS = ["hello world", "the quick brown fox jumps over the lazy dog", "short"]


@pytest.fixture(scope="module")
def dense_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Transformer → Pooling (cls) → Dense (24, tanh) → LayerNorm → Normalize folder."""
    folder = tmp_path_factory.mktemp("st") / "bert-dense"
    folder.mkdir()
    return make_family(folder, BY_NAME_DENSE)


def copy_with_modules(source: Path, target: Path, edit: callable) -> Path:
    shutil.copytree(source, target)
    modules = json.loads((target / "modules.json").read_text())
    (target / "modules.json").write_text(json.dumps(edit(modules)))
    return target


def test_unsupported_module_fails_the_export_naming_it(dense_folder: Path, tmp_path: Path) -> None:
    folder = copy_with_modules(dense_folder, tmp_path / "ww", lambda modules: [
        *modules, {"idx": len(modules), "name": "9", "path": "9_WordWeights",
                   "type": "sentence_transformers.models.WordWeights"}])
    result = CliRunner().invoke(main, [str(folder), "--repository", str(tmp_path / "repo")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: Unsupported sentence-transformers module 'sentence_transformers.models.WordWeights' (9_WordWeights) "
        "in modules.json: the exported graph implements Transformer, Pooling, Dense, Normalize, LayerNorm. "
        "Nothing was written."
    )
    assert not (tmp_path / "repo").exists()


def test_a_module_left_out_of_the_graph_fails_verification(dense_folder: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the Dense layer dropped (the graph's own reconstruction), encode() would disagree: fail closed."""

    class Dropped(export.postprocess_heads.nn.Module):  # keeps the width so that only the numbers can tell
        def forward(self, features: dict) -> dict:
            features["sentence_embedding"] = features["sentence_embedding"][:, :24]
            return features

    monkeypatch.setitem(export.postprocess_heads.STEP_BUILDERS, "Dense", lambda spec, module: Dropped())
    with pytest.raises(VerificationError, match=r"^Verification failed: ref st-[0-9.]+ \(fp32\) output "
                                                r"'embeddings' differs from sentence-transformers [0-9.]+: "):
        export_into(tmp_path / "repo", str(dense_folder), "dropped", formats=("onnx",))
    assert not (tmp_path / "repo").exists()


def test_dense_width_is_served_and_equals_encode(dense_folder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    repository = tmp_path / "repo"
    result = export_into(repository, str(dense_folder), "dense", formats=("onnx",))
    assert result.signature.outputs[0].dims == (24,)
    session = ort.InferenceSession(str(repository / "dense_onnx" / "1" / "model.onnx"))
    (embeddings,) = session.run(["embeddings"], tokens_from_repository(repository, "dense", TEXTS))
    expected = SentenceTransformer(str(dense_folder), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_truncate_dim_cuts_and_renormalises_like_encode(dense_folder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    repository = tmp_path / "repo"
    result = CliRunner().invoke(main, [str(dense_folder), "--repository", str(repository), "--name", "m8",
                                       "--truncate-dim", "8", "--instance-kind", "cpu", "--serving", "ensemble"])
    assert result.exit_code == 0, result.output
    assert "embeddings FP32 [8]" in result.output
    session = ort.InferenceSession(str(repository / "m8_onnx" / "1" / "model.onnx"))
    (embeddings,) = session.run(["embeddings"], tokens_from_repository(repository, "m8", TEXTS))
    expected = SentenceTransformer(str(dense_folder), device="cpu", truncate_dim=8).encode(
        TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1, atol=1e-5)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_truncate_dim_wider_than_the_model_is_refused(dense_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="--truncate-dim 99 must be between 1 and the embedding width 24"):
        export_into(tmp_path / "repo", str(dense_folder), "m", formats=("onnx",), truncate_dim=99)


def test_pooling_without_prompt_tokens_and_prompts_fails_loudly(dense_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "instructor"
    shutil.copytree(dense_folder, folder)
    pooling = folder / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "include_prompt": False}))
    st_config = folder / "config_sentence_transformers.json"
    st_config.write_text(json.dumps({**json.loads(st_config.read_text()),
                                     "prompts": {"query": "Represent the question: "}, "default_prompt_name": None}))
    with pytest.raises(UnsupportedModelError, match=r"include_prompt: false\) and has prompts"):
        export_into(tmp_path / "repo", str(folder), "m", formats=("onnx",))
