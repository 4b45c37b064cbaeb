"""User mistakes end in one line on stderr and exit 1 or 2, never a stack trace (the real CLIs, as processes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def only_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failed command prints (warnings of libraries aside), checked for stack traces."""
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_folder_without_weights(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for path in tiny_models["bert-classifier"].iterdir():
        if path.suffix != ".safetensors":
            shutil.copy(path, folder / path.name)
    result = run("-m", "export", str(folder), "--repository", str(tmp_path / "repo"), "-q")
    assert result.returncode == 1
    assert only_line(result) == (f"Error: Model folder '{folder}' has no weights: none of model.safetensors, "
                                 f"model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json "
                                 f"is there.")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("config.json", '{"model_type": "bert",\n', "config.json in '{folder}' is not valid JSON (Expecting property "
                                                 "name enclosed in double quotes at line 2, column 1)."),
    ("config.json", "[1, 2]", "config.json in '{folder}' is not a JSON object."),
    ("tokenizer_config.json", "{", "tokenizer_config.json in '{folder}' is not valid JSON (Expecting property name "
                                   "enclosed in double quotes at line 1, column 2)."),
])
def test_corrupt_json_file(tiny_models: dict[str, Path], tmp_path: Path, name: str, content: str,
                           expected: str) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_models["bert-classifier"], folder)
    (folder / name).write_text(content)
    result = run("-m", "export", str(folder), "--repository", str(tmp_path / "repo"), "-q")
    assert result.returncode == 1
    assert only_line(result) == "Error: " + expected.format(folder=folder)


@pytest.mark.parametrize("url", ["localhost:notaport", "localhost:99999", ":8000", "localhost:8000/v2"])
def test_client_url_that_is_not_host_and_port(url: str) -> None:
    result = run("-m", "client", "--url", url, "models")
    assert result.returncode == 2
    assert only_line(result) == (f"Error: Invalid URL '{url}': use HOST:PORT with a port from 1 to 65535, optionally "
                                 f"with http://, https:// or grpc:// (e.g. localhost:8000)")
