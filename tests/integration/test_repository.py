"""Versioning and atomic writes of the model repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from export.errors import RepositoryError
from export.repository import ModelFolder, choose_version, existing_versions, write_models
from export.settings import ExportSettings
from export.summary import summary
from tests.support.exports import export_into


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


#: Writes generation after generation of ``models`` model folders until killed. It announces each commit phase
#: on stdout and spaces the swaps 5 ms apart, so that a kill lands between and around them.
WRITER = """
import sys
import time
from pathlib import Path
from tritonclient.grpc import model_config_pb2 as mc
from export import repository as module
from export.repository import ModelFolder, write_models

swap = module._swap
def announced_swap(staged, target):
    if staged.name == "m0":
        print("commit", flush=True)
    time.sleep(0.005)
    swap(staged, target)
module._swap = announced_swap

repository, models = Path(sys.argv[1]), int(sys.argv[2])
generation = int(sys.argv[3])
while True:
    generation += 1
    folders = []
    for index in range(models):
        config = mc.ModelConfig(name=f"m{index}", backend="python", max_batch_size=4)
        config.parameters["generation"].string_value = str(generation)
        folders.append(ModelFolder(config, version_files={"model.bin": f"g{generation}".encode() * 1000},
                                   root_files={"labels.txt": f"g{generation}".encode()}))
    write_models(repository, folders, 2)
"""


def generation_of(model_dir: Path) -> int:
    """The one generation every file of the model folder belongs to; fails on a mix or a missing file."""
    from tritonize.repo_format.pbtxt import read_config

    generation = int(read_config(model_dir).parameters["generation"].string_value)
    assert existing_versions(model_dir) == [1, 2]
    assert (model_dir / "1" / "model.bin").read_bytes() == b"g0" * 1000
    assert (model_dir / "2" / "model.bin").read_bytes() == f"g{generation}".encode() * 1000
    assert (model_dir / "labels.txt").read_bytes() == f"g{generation}".encode()
    return generation


def test_kill_9_during_writes_leaves_every_model_folder_old_or_new(tmp_path: Path) -> None:
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from export.repository import remove_stale_staging

    repository, models = tmp_path / "repo", 20
    old = []
    for index in range(models):
        config = mc.ModelConfig(name=f"m{index}", backend="python", max_batch_size=4)
        config.parameters["generation"].string_value = "0"
        old.append(ModelFolder(config, version_files={"model.bin": b"g0" * 1000}, root_files={"labels.txt": b"g0"}))
    write_models(repository, old, 1)
    write_models(repository, old, 2)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    rng = random.Random(7)
    generations: set[int] = set()
    mixed = 0
    before = [0] * models
    for kill in range(6):
        start = max(before)
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(repository), str(models), str(start)],
                                 stdout=subprocess.PIPE, env=env)
        assert child.stdout is not None and child.stdout.readline() == b"commit\n"
        time.sleep(rng.uniform(0.0, 0.12))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        found = [generation_of(repository / f"m{i}") for i in range(models)]
        # Each folder holds one generation: its own from before, or one the killed writer committed; models are
        # swapped in order, so the newer ones form a prefix.
        assert all(now == then or now > start for now, then in zip(found, before)), (kill, before, found)
        assert found == sorted(found, reverse=True), (kill, found)
        before = found
        generations |= set(found)
        mixed += len(set(found)) > 1
    assert max(generations) > 0, "the writer never committed"
    assert mixed > 0, "no kill landed between two swaps"
    assert list(tmp_path.glob(".repo.staging-*")), "killed writers leave staging folders behind"
    remove_stale_staging(repository.resolve())
    assert not list(tmp_path.glob(".repo.staging-*"))


def ensemble(name: str, *steps: str) -> ModelFolder:
    config = mc.ModelConfig(name=name, platform="ensemble", max_batch_size=4)
    for step in steps:
        config.ensemble_scheduling.step.add(model_name=step, model_version=-1)
    return ModelFolder(config)


def test_replacing_an_ensemble_retires_the_steps_nothing_calls_any_more(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    write_models(repository, [ensemble("m", "m_tokenizer", "m_onnx"), folder("m_tokenizer"), folder("m_onnx"),
                              ensemble("other", "shared"), folder("shared"), folder("m_torchscript")], 1)
    (repository / "notes").mkdir()
    write_models(repository, [ensemble("m", "m_tokenizer", "shared")], 2)  # m_onnx: no longer called
    assert not (repository / "m_onnx").exists()
    assert existing_versions(repository / "m_tokenizer") == [1]
    write_models(repository, [folder("m")], 3)  # one model in the ensemble's place: its steps go, if unshared
    assert not (repository / "m_tokenizer").exists()
    assert existing_versions(repository / "shared") == [1]  # "other" still calls it
    assert existing_versions(repository / "m_torchscript") == [1]  # no replaced ensemble called it
    assert (repository / "notes").is_dir()
    assert sorted(p.name for p in repository.iterdir()) == ["m", "m_torchscript", "notes", "other", "shared"]
    assert not list(tmp_path.glob(".repo.staging-*"))


def test_one_step_export_over_an_ensemble_export_removes_its_tokenizer_and_onnx_models(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",))
    result = export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",), serving="one-step")
    assert result.retired == ("m_onnx", "m_tokenizer")
    assert [p.name for p in repository.iterdir()] == ["m"]
    assert "Removed m_onnx, m_tokenizer: steps of the replaced ensemble" in summary(
        result, ExportSettings(model="x", repository=repository))
    again = export_into(repository, str(tiny_models["bert-base"]), "m", formats=("onnx",))
    assert again.retired == ()
    assert sorted(p.name for p in repository.iterdir()) == ["m", "m_onnx", "m_tokenizer"]
