"""Refuse a tokenizer that cannot tokenize: missing files, special tokens only, or real text → unknown.

transformers builds a tokenizer even when a folder has no tokenizer files: its vocabulary is the special
tokens, every word becomes ``[UNK]`` and every text gets the same answer. Verification cannot see that, since
it compares the artifacts with PyTorch on the same tokens, so the tokenizer is checked here against a round
trip of plain English text.
"""

from __future__ import annotations

import re
from pathlib import Path

from tokenizers import Tokenizer

from export.errors import TokenizerError

#: Plain English (ASCII, so no normaliser changes it beyond case and spacing) that any real vocabulary covers.
PROBE_TEXT = (
    "The quick brown fox jumps over the lazy dog. A customer review: the battery lasts two days, "
    "the screen is sharp, but the speaker is far too quiet."
)

#: Largest share of the probe's tokens that may come out unknown.
MAX_UNKNOWN_SHARE = 0.5


def check_tokenizer(folder: Path, shown: str, tokenizer: object, served: Tokenizer) -> None:
    """Raise unless ``served`` (the tokenizer.json the tokenizer model will run) tokenizes real text.

    Args:
        folder: The model folder the tokenizer was loaded from.
        shown: How the user named it (messages quote this).
        tokenizer: transformers' tokenizer loaded from ``folder`` (names the files its family reads).
        served: The ``tokenizers`` tokenizer written into the repository.

    Raises:
        TokenizerError: The folder has no tokenizer files, the vocabulary holds only special tokens, most of
            the probe text is unknown, or decoding the probe's tokens does not give the probe back.
    """
    missing = missing_files(folder, getattr(type(tokenizer), "vocab_files_names", {}) or {})
    if missing:
        raise TokenizerError(f"Model folder '{shown}' has no tokenizer: {missing}.")
    specials = {token for token, _ in _special_tokens(served)}
    words = [token for token in served.get_vocab(with_added_tokens=True) if token not in specials]
    if not words:
        raise TokenizerError(
            f"The tokenizer of '{shown}' knows only its {len(specials)} special tokens: it would turn every "
            f"text into unknown tokens."
        )
    probe = Tokenizer.from_str(served.to_str())  # the whole probe: no truncation to a small model's length
    probe.no_truncation()
    encoding = probe.encode(PROBE_TEXT, add_special_tokens=False)
    unknown = _unknown_ids(served)
    share = sum(token_id in unknown for token_id in encoding.ids) / max(1, len(encoding.ids))
    if share > MAX_UNKNOWN_SHARE:
        raise TokenizerError(
            f"The tokenizer of '{shown}' turns {share:.0%} of a plain English probe text into unknown tokens: "
            f"its vocabulary does not fit the model."
        )
    decoded = probe.decode(encoding.ids, skip_special_tokens=True)
    suffix = getattr(probe.model, "end_of_word_suffix", None)
    if suffix:  # CLIP's BPE marks word ends (``fox</w>``) and only transformers' decode removes the marks
        decoded = decoded.replace(suffix, " ")
    if _letters(decoded) != _letters(PROBE_TEXT):
        raise TokenizerError(
            f"The tokenizer of '{shown}' does not give a plain English probe text back after encoding and "
            f"decoding it (got {decoded[:60]!r})."
        )


def missing_files(folder: Path, vocab_files_names: dict[str, str]) -> str:
    """What is missing for a tokenizer: ``""`` when ``tokenizer.json`` or every file of the slow format is there.

    Args:
        folder: The model folder.
        vocab_files_names: transformers' ``vocab_files_names`` of the tokenizer class (``tokenizer_file`` is
            the fast format, the other entries together the slow one).
    """
    fast = vocab_files_names.get("tokenizer_file", "tokenizer.json")
    slow = [name for key, name in vocab_files_names.items() if key != "tokenizer_file"]
    if (folder / fast).is_file() or (slow and all((folder / name).is_file() for name in slow)):
        return ""
    absent = [name for name in slow if not (folder / name).is_file()]
    if not slow or len(absent) == len(slow):
        alternatives = " + ".join(slow)
        return f"none of {fast}" + (f" or {alternatives}" if alternatives else "") + " is there"
    present = [name for name in slow if name not in absent]
    return f"{fast} is not there, and {' + '.join(present)} needs {' + '.join(absent)}"


def _special_tokens(served: Tokenizer) -> list[tuple[str, int]]:
    return [(token.content, token_id) for token_id, token in served.get_added_tokens_decoder().items()
            if token.special]


def _unknown_ids(served: Tokenizer) -> set[int]:
    """Ids of the model's unknown token (WordPiece, BPE, Unigram and WordLevel name it differently)."""
    model = served.model
    names = {getattr(model, "unk_token", None)}
    unk_id = getattr(model, "unk_id", None)
    ids = {served.token_to_id(name) for name in names if isinstance(name, str)}
    if isinstance(unk_id, int):
        ids.add(unk_id)
    return {token_id for token_id in ids if token_id is not None}


def _letters(text: str) -> str:
    """Letters and digits only, lower case: what every tokenizer's round trip must keep."""
    return re.sub(r"[^a-z0-9]", "", text.lower())
