"""The version an export writes is the one Triton serves (``version_policy: latest 1``)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from tritonclient.grpc import model_config_pb2 as mc

from export.cli import main
from export.errors import RepositoryError
from export.repository import ModelFolder, choose_version, existing_versions, write_models

ROOT = Path(__file__).resolve().parents[2]


def folder(name: str) -> ModelFolder:
    return ModelFolder(mc.ModelConfig(name=name, backend="python"), version_files={"model.bin": b"w"})


def test_force_alone_replaces_the_newest_version(tmp_path: Path) -> None:
    assert choose_version(tmp_path, ["a"], None, True) == 1
    write_models(tmp_path, [folder("a")], 1)
    write_models(tmp_path, [folder("a")], 2)
    assert choose_version(tmp_path, ["a", "b"], None, True) == 2
    assert choose_version(tmp_path, ["a", "b"], None, False) == 3


@pytest.mark.parametrize("force", [False, True])
def test_a_version_below_the_served_one_is_refused(tmp_path: Path, force: bool) -> None:
    write_models(tmp_path, [folder("a")], 1)
    write_models(tmp_path, [folder("a")], 2)
    with pytest.raises(RepositoryError) as refused:
        choose_version(tmp_path, ["a"], 1, force)
    assert str(refused.value) == (
        "Version 1 would never be served: 'a' has version 2, and Triton serves only the newest (version_policy "
        "latest 1). Pass --force without --version to replace version 2, or leave out --version to add version 3.")


def export(tiny_model: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(tiny_model), "--format", "onnx", "--skip-release-check", "--name", "m",
                                       *args])
    return result.exit_code, result.output


def test_forced_old_version_is_refused_before_anything_runs(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = str(tmp_path / "repo")
    assert export(tiny_models["bert-base"], "--repository", repository, "-q") == (0, "")
    assert export(tiny_models["bert-base"], "--repository", repository, "-q") == (0, "")
    code, output = export(tiny_models["bert-base"], "--repository", repository, "--force", "--version", "1")
    assert code == 1
    assert output.strip().splitlines()[-1].startswith("Error: Version 1 would never be served: 'm' has version 2")
    code, output = export(tiny_models["bert-base"], "--repository", repository, "--force")
    assert code == 0, output
    assert "as version 2" in output
    assert existing_versions(tmp_path / "repo" / "m_onnx") == [1, 2]


def test_make_demo_export_can_run_again(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """`make demo`'s own export options, run twice and after a newer version exists: each run writes the served one."""
    repository = tmp_path / "repo"
    dry = subprocess.run(["make", "-n", "demo", f"REPOSITORY={repository}"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.replace("\\\n", " ")
    line = next(line for line in dry.splitlines() if " -m export " in line)
    args = shlex.split(line.split(" -m export ", 1)[1])
    runner = CliRunner()
    for expected in (1, 1):
        result = runner.invoke(main, [str(tiny_models["bert-base"]), *args, "--skip-release-check"])
        assert result.exit_code == 0, result.output
        assert f"as version {expected}" in result.output
    name = args[args.index("--name") + 1]
    result = runner.invoke(main, [str(tiny_models["bert-base"]), "--repository", str(repository), "--name", name,
                                  "--format", "onnx", "--format", "torchscript", "--skip-release-check", "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [str(tiny_models["bert-base"]), *args, "--skip-release-check"])
    assert result.exit_code == 0, result.output
    assert "as version 2" in result.output
