"""The shadow repository: adapters where a backend is missing, links to the user's files, follows changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from server.errors import RepositoryError
from server.shadow import ShadowRepository, plan
from tests.support.server import build_repository, snapshot
from tritonize.repo_format.pbtxt import parse


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shadow-source")
    build_repository(root / "repo", root / "work")
    return root / "repo"


@pytest.fixture
def source(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(built, copy)
    return copy


def test_adapted_model_links_the_user_s_artifact_and_label_file(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    model = shadow.root / "tiny_onnx"
    assert not model.is_symlink() and model.is_dir()
    assert os.readlink(model / "1" / "model.onnx") == str(source / "tiny_onnx" / "1" / "model.onnx")
    assert os.readlink(model / "labels.txt") == str(source / "tiny_onnx" / "labels.txt")
    assert "class TritonPythonModel" in (model / "1" / "model.py").read_text()
    assert (model / "1" / "tritonize_batching.py").is_file()
    config = parse((model / "config.pbtxt").read_text())
    assert config.backend == "python" and config.name == "tiny_onnx"


def test_native_models_are_linked_or_mirrored_untouched(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    assert os.readlink(shadow.root / "tiny") == str(source / "tiny")
    tokenizer = shadow.root / "tiny_tokenizer"
    assert not tokenizer.is_symlink() and not (tokenizer / "1").is_symlink()
    for name in ("config.pbtxt", "1/model.py"):
        assert os.readlink(tokenizer / name) == str(source / "tiny_tokenizer" / name)


def test_bytecode_caches_stay_in_the_shadow(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    cache = shadow.root / "tiny_tokenizer" / "1" / "__pycache__"
    cache.mkdir()
    shadow.sync()
    assert cache.is_dir()
    assert not (source / "tiny_tokenizer" / "1" / "__pycache__").exists()


def test_the_user_s_repository_is_never_written(source: Path, tmp_path: Path) -> None:
    before = snapshot(source)
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    shadow.sync()
    assert snapshot(source) == before


def test_sync_is_idempotent(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    first = snapshot(shadow.root)
    shadow.sync()
    assert snapshot(shadow.root) == first


def test_sync_follows_new_removed_and_replaced_versions_and_models(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    shutil.copytree(source / "tiny_onnx" / "1", source / "tiny_onnx" / "2")
    (source / "tiny_onnx" / "2" / "model.onnx.data").write_bytes(b"external weights")
    shutil.rmtree(source / "tiny_torchscript")
    shutil.copytree(source / "tiny_tokenizer", source / "tiny_tokenizer2")
    shadow.sync()  # new versions and models are taken in once two syncs find them unchanged
    assert not (shadow.root / "tiny_onnx" / "2").exists() and not (shadow.root / "tiny_tokenizer2").exists()
    shadow.sync()
    assert sorted(p.name for p in (shadow.root / "tiny_onnx").iterdir() if p.name.isdigit()) == ["1", "2"]
    assert os.readlink(shadow.root / "tiny_onnx" / "2" / "model.onnx.data") == str(
        source / "tiny_onnx" / "2" / "model.onnx.data")
    assert not (shadow.root / "tiny_torchscript").exists()
    assert (shadow.root / "tiny_tokenizer2" / "1" / "model.py").is_symlink()
    shutil.rmtree(source / "tiny_onnx" / "1")
    shadow.sync()
    assert not (shadow.root / "tiny_onnx" / "1").exists()
    assert [t.versions for t in shadow.translations if t.name == "tiny_onnx"] == [(2,)]


def test_a_model_that_changes_format_changes_its_shadow(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    config = (source / "tiny_tokenizer" / "config.pbtxt").read_text()
    shutil.rmtree(source / "tiny_onnx")
    shutil.copytree(source / "tiny_tokenizer", source / "tiny_onnx")
    (source / "tiny_onnx" / "config.pbtxt").write_text(config.replace("tiny_tokenizer", "tiny_onnx"))
    shadow.sync()
    shadow.sync()
    assert os.readlink(shadow.root / "tiny_onnx" / "config.pbtxt") == str(source / "tiny_onnx" / "config.pbtxt")
    assert os.readlink(shadow.root / "tiny_onnx" / "1" / "model.py") == str(source / "tiny_onnx" / "1" / "model.py")
    assert not (shadow.root / "tiny_onnx" / "1" / "tritonize_batching.py").exists()
    shutil.rmtree(source / "tiny")
    shutil.copytree(source / "tiny_onnx", source / "tiny")
    (source / "tiny" / "config.pbtxt").write_text(config.replace("tiny_tokenizer", "tiny"))
    shadow.sync()
    shadow.sync()
    assert not (shadow.root / "tiny").is_symlink()


def test_a_version_still_being_written_is_not_mirrored(source: Path, tmp_path: Path) -> None:
    shadow = ShadowRepository(source, tmp_path / "shadow", gpu_count=0)
    shadow.sync()
    writing = source / "tiny_onnx" / "2"
    writing.mkdir()
    (writing / "model.onnx").write_bytes(b"half")
    shadow.sync()
    with open(writing / "model.onnx", "ab") as file:
        file.write(b" of the weights")
    shadow.sync()
    assert not (shadow.root / "tiny_onnx" / "2").exists()
    shadow.sync()
    assert os.readlink(shadow.root / "tiny_onnx" / "2" / "model.onnx") == str(writing / "model.onnx")


def test_missing_repository_is_a_repository_error(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="does not exist"):
        plan(tmp_path / "nowhere", 0)
