"""A folder whose tokenizer cannot tokenize is refused with one line, and nothing is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import BertTokenizer, PreTrainedTokenizerFast

from export.cli import main
from export.tokenizer_check import missing_files

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def copy_weights(source: Path, folder: Path) -> Path:
    """A model folder with the config and weights of ``source`` and no tokenizer files."""
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, folder / name)
    return folder


def with_wordpiece(folder: Path, words: list[str]) -> Path:
    """Save a BERT tokenizer over ``SPECIALS + words`` into ``folder``."""
    vocab = {token: i for i, token in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    BertTokenizer(tokenizer_object=tok, model_max_length=64).save_pretrained(folder)
    return folder


def export(folder: Path, repository: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(folder), "--repository", str(repository), "--skip-release-check", "-q"])
    return result.exit_code, result.output


def test_folder_without_tokenizer_files_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_weights(tiny_models["bert-classifier"], tmp_path / "weights-only")
    code, output = export(folder, tmp_path / "repo")
    assert code == 1
    assert output.strip().splitlines() == [
        f"Error: Model folder '{folder}' has no tokenizer: none of tokenizer.json or vocab.txt is there."]
    assert not (tmp_path / "repo").exists()


def test_vocabulary_of_special_tokens_only_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = with_wordpiece(copy_weights(tiny_models["bert-classifier"], tmp_path / "specials"), [])
    code, output = export(folder, tmp_path / "repo")
    assert code == 1
    assert output.strip().splitlines() == [
        f"Error: The tokenizer of '{folder}' knows only its 5 special tokens: it would turn every text into "
        f"unknown tokens."]
    assert not (tmp_path / "repo").exists()


def test_vocabulary_that_does_not_cover_english_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = with_wordpiece(copy_weights(tiny_models["bert-classifier"], tmp_path / "cjk"), list("漢字中文語言模型"))
    code, output = export(folder, tmp_path / "repo")
    assert code == 1
    assert output.strip() == (f"Error: The tokenizer of '{folder}' turns 100% of a plain English probe text into "
                              f"unknown tokens: its vocabulary does not fit the model.")
    assert not (tmp_path / "repo").exists()


def test_tokenizer_that_drops_text_fails_the_round_trip(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """A BPE without an unknown token silently drops what it cannot spell: no [UNK], but the text is gone."""
    folder = copy_weights(tiny_models["bert-classifier"], tmp_path / "drops")
    vocab = {token: i for i, token in enumerate([*SPECIALS, "t", "h", "e", "th", "the"])}
    tok = Tokenizer(models.BPE(vocab, [("t", "h"), ("th", "e")], unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                            unk_token="[UNK]", mask_token="[MASK]").save_pretrained(folder)
    code, output = export(folder, tmp_path / "repo")
    assert code == 1
    assert output.strip().startswith(
        f"Error: The tokenizer of '{folder}' does not give a plain English probe text back after encoding and "
        f"decoding it (got ")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(("files", "expected"), [
    ([], "none of tokenizer.json or vocab.json + merges.txt is there"),
    (["vocab.json"], "tokenizer.json is not there, and vocab.json needs merges.txt"),
    (["vocab.json", "merges.txt"], ""),
    (["tokenizer.json"], ""),
])
def test_missing_files_names_what_is_missing(tmp_path: Path, files: list[str], expected: str) -> None:
    for name in files:
        (tmp_path / name).write_text("{}")
    names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}
    assert missing_files(tmp_path, names) == expected
