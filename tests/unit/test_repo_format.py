"""The repository format module: parse/render, tokenizer parameters, and the files the tokenizer model reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from export.python_models import tokenizer_model
from tritonize.repo_format.files import TOKENIZER_ENCODING_FILENAME, version_folders
from tritonize.repo_format.pbtxt import parse, render
from tritonize.repo_format.tokenizer_encoding import TokenizerParameters
from tritonize.repo_format.tokenizer_folder import TokenizerFolderError, load_tokenizer_model, tokenizer_parameters


def test_max_batch_size_zero_survives_render_and_parse() -> None:
    text = render(mc.ModelConfig(name="m", backend="python", max_batch_size=0))
    assert "max_batch_size: 0" in text and parse(text).max_batch_size == 0


def test_tokenizer_parameters_round_trip_through_a_config() -> None:
    parameters = TokenizerParameters(max_length=128, pad_to_multiple_of=8, pad_token_id=1)
    config = mc.ModelConfig(parameters={k: mc.ModelParameter(string_value=v)
                                        for k, v in parameters.as_strings().items()})
    assert tokenizer_parameters(parse(render(config))) == parameters
    with pytest.raises(KeyError):
        tokenizer_parameters(mc.ModelConfig())


def test_the_tokenizer_model_imports_the_encoding_module_under_the_name_it_is_copied_as() -> None:
    tree = ast.parse(Path(tokenizer_model.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert Path(TOKENIZER_ENCODING_FILENAME).stem in imported


def test_version_folders_are_numeric_and_ordered(tmp_path: Path) -> None:
    for name in ("10", "2", "x", "1"):
        (tmp_path / name).mkdir()
    (tmp_path / "3").write_text("a file")
    assert [p.name for p in version_folders(tmp_path)] == ["1", "2", "10"]
    assert version_folders(tmp_path / "missing") == []


def test_a_folder_without_a_tokenizer_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenizerFolderError, match="Cannot read tokenizer settings"):
        load_tokenizer_model(tmp_path)
