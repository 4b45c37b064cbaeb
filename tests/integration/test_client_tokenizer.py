"""The client-side tokenizer takes its settings from an exported tokenizer model's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import UsageProblem
from client.tokenizing import load_encoder


def test_tokenizer_settings_come_from_the_model_config(tiny_repository: Path) -> None:
    folder = tiny_repository / "tiny_cls_tokenizer"
    for path in (folder, folder / "1" / "tokenizer.json"):
        encoder = load_encoder(path)
        assert (encoder.max_length, encoder.pad_to_multiple_of, encoder.pad_token_id) == (64, 8, 0)
    with pytest.raises(UsageProblem, match="^No tokenizer.json in "):
        load_encoder(tiny_repository / "tiny_cls")
