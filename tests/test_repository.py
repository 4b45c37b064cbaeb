"""Versioning and atomic writes of the model repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from export.errors import RepositoryError
from export.repository import ModelFolder, choose_version, existing_versions, write_models
from tests.conftest import export_into


def folder(name: str, payload: bytes = b"weights") -> ModelFolder:
    return ModelFolder(mc.ModelConfig(name=name, backend="python", max_batch_size=4),
                       version_files={"model.bin": payload}, root_files={"labels.txt": b"a\nb\n"})


def test_reexport_adds_next_version_and_keeps_the_old(tmp_path: Path) -> None:
    write_models(tmp_path, [folder("a"), folder("b")], 1)
    assert choose_version(tmp_path, ["a", "b"], None, False) == 2
    write_models(tmp_path, [folder("a", b"new"), folder("b", b"new")], 2)
    assert existing_versions(tmp_path / "a") == [1, 2]
    assert (tmp_path / "a" / "1" / "model.bin").read_bytes() == b"weights"
    assert (tmp_path / "a" / "2" / "model.bin").read_bytes() == b"new"


def test_existing_version_needs_force(tmp_path: Path) -> None:
    write_models(tmp_path, [folder("a")], 3)
    with pytest.raises(RepositoryError, match="Version 3 of 'a' already exists .*pass --force"):
        choose_version(tmp_path, ["a"], 3, False)
    assert choose_version(tmp_path, ["a"], 3, True) == 3
    write_models(tmp_path, [folder("a", b"replaced")], 3)
    assert (tmp_path / "a" / "3" / "model.bin").read_bytes() == b"replaced"
    assert existing_versions(tmp_path / "a") == [3]


def test_failure_while_staging_leaves_repository_untouched(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    write_models(repository, [folder("a")], 1)
    before = sorted(p.relative_to(repository) for p in repository.rglob("*"))
    broken = ModelFolder(mc.ModelConfig(name="a"), version_files={"model.bin": tmp_path / "missing-file"})
    with pytest.raises(RepositoryError):
        write_models(repository, [folder("b"), broken], 2)
    assert sorted(p.relative_to(repository) for p in repository.rglob("*")) == before
    assert not list(tmp_path.glob(".repo.staging-*"))


def test_export_twice_gives_version_two_for_every_model(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",))
    result = export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",))
    assert result.version == 2
    for model in ("m", "m_tokenizer", "m_onnx"):
        assert existing_versions(repository / model) == [1, 2]
    with pytest.raises(RepositoryError):
        export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",), version=2)
    assert export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",), version=2,
                       force=True).version == 2
