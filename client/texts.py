"""Read input texts: one per line, or one field of each JSON Lines record; errors name the line.

Blank entries (empty or whitespace-only lines, JSON Lines records whose field is blank) are not texts the
tokenizer model accepts. :class:`InputTexts` keeps them out of the texts and remembers where each text came
from, so results keep the input position and the command line can name what it skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from client.errors import InputError

#: ``--field`` when a ``.jsonl`` file is read without one.
DEFAULT_FIELD = "text"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class InputTexts:
    """Non-blank texts with their input positions, and the positions of the blank entries left out.

    Attributes:
        texts: The texts to send, in input order.
        positions: 0-based input position of each text (a file's line number minus one, an argument's place).
        blank: 0-based input positions of the blank entries, which are not in ``texts``.
    """

    texts: tuple[str, ...]
    positions: tuple[int, ...]
    blank: tuple[int, ...]

    @classmethod
    def of(cls, entries: Sequence[str]) -> InputTexts:
        """Split ``entries`` (position = place in the sequence) into texts and blank positions."""
        kept = [(position, text) for position, text in enumerate(entries) if text.strip()]
        blank = tuple(position for position, text in enumerate(entries) if not text.strip())
        return cls(tuple(text for _, text in kept), tuple(position for position, _ in kept), blank)


def parse_lines(data: bytes, source: str) -> list[str]:
    """One text per line (LF or CRLF line ends); blank lines are skipped.

    Raises:
        InputError: A line is not valid UTF-8.
    """
    return list(InputTexts.of(line_entries(data, source)).texts)


def line_entries(data: bytes, source: str) -> list[str]:
    """Every line, blank ones included (entry ``i`` is line ``i + 1``); a final line end starts no line.

    Raises:
        InputError: A line is not valid UTF-8.
    """
    return [text for _, text in _decoded_lines(data, source)]


def parse_jsonl(data: bytes, source: str, field: str = DEFAULT_FIELD) -> list[str]:
    """The string ``field`` of each JSON object, one object per line; blank lines and texts are skipped.

    Raises:
        InputError: A line is not UTF-8, not a JSON object, or lacks a string ``field``.
    """
    return list(InputTexts.of(jsonl_entries(data, source, field)).texts)


def jsonl_entries(data: bytes, source: str, field: str = DEFAULT_FIELD) -> list[str]:
    """The string ``field`` of each line's JSON object; a blank line gives ``""`` (entry ``i`` is line ``i + 1``).

    Raises:
        InputError: A line is not UTF-8, not a JSON object, or lacks a string ``field``.
    """
    texts = []
    for number, line in _decoded_lines(data, source):
        if not line.strip():
            texts.append("")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{source} line {number} is not valid JSON: {error.msg}") from None
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise InputError(f"{source} line {number} has no string field '{field}'")
        texts.append(value)
    return texts


def read_file(path: Path, field: str | None = None) -> list[str]:
    """Non-blank texts of ``path``: JSON Lines when ``field`` is given or the name ends in ``.jsonl``, else lines.

    Raises:
        InputError: The file cannot be read, or a line is invalid (see :func:`parse_lines`, :func:`parse_jsonl`).
    """
    return list(read_input(path, field).texts)


def read_input(path: Path, field: str | None = None) -> InputTexts:
    """Texts of ``path`` with their positions (see :func:`read_file`)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"Cannot read {path}: {error.strerror or error}") from None
    return parse_input(data, str(path), field, jsonl=path.suffix == ".jsonl")


def parse_texts(data: bytes, source: str, field: str | None = None, jsonl: bool = False) -> list[str]:
    """Non-blank texts of ``data`` read from ``source``: JSON Lines when ``field`` is given or ``jsonl``, else lines."""
    return list(parse_input(data, source, field, jsonl).texts)


def parse_input(data: bytes, source: str, field: str | None = None, jsonl: bool = False) -> InputTexts:
    """Texts of ``data`` with their positions (see :func:`parse_texts`)."""
    if field is not None or jsonl:
        return InputTexts.of(jsonl_entries(data, source, field or DEFAULT_FIELD))
    return InputTexts.of(line_entries(data, source))


def _decoded_lines(data: bytes, source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every line, decoded as UTF-8."""
    lines = []
    raws = data.removeprefix(_BOM).split(b"\n")
    if raws and raws[-1] == b"":
        raws.pop()
    for number, raw in enumerate(raws, start=1):
        try:
            lines.append((number, raw.removesuffix(b"\r").decode("utf-8")))
        except UnicodeDecodeError as error:
            raise InputError(f"{source} line {number} is not valid UTF-8 (byte {error.start + 1})") from None
    return lines
