"""Read input texts: one per line, or one field of each JSON Lines record; errors name the line."""

from __future__ import annotations

import json
from pathlib import Path

from client.errors import InputError

#: ``--field`` when a ``.jsonl`` file is read without one.
DEFAULT_FIELD = "text"
_BOM = b"\xef\xbb\xbf"


def parse_lines(data: bytes, source: str) -> list[str]:
    """One text per line (LF or CRLF line ends); blank lines are skipped.

    Raises:
        InputError: A line is not valid UTF-8.
    """
    return [text for _, text in _decoded_lines(data, source) if text.strip()]


def parse_jsonl(data: bytes, source: str, field: str = DEFAULT_FIELD) -> list[str]:
    """The string ``field`` of each JSON object, one object per line; blank lines are skipped.

    Raises:
        InputError: A line is not UTF-8, not a JSON object, or lacks a string ``field``.
    """
    texts = []
    for number, line in _decoded_lines(data, source):
        if not line.strip():
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
    """Texts of ``path``: JSON Lines when ``field`` is given or the name ends in ``.jsonl``, else lines.

    Raises:
        InputError: The file cannot be read, or a line is invalid (see :func:`parse_lines`, :func:`parse_jsonl`).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"Cannot read {path}: {error.strerror or error}") from None
    return parse_texts(data, str(path), field, jsonl=path.suffix == ".jsonl")


def parse_texts(data: bytes, source: str, field: str | None = None, jsonl: bool = False) -> list[str]:
    """Texts of ``data`` read from ``source``: JSON Lines when ``field`` is given or ``jsonl``, else lines."""
    if field is not None or jsonl:
        return parse_jsonl(data, source, field or DEFAULT_FIELD)
    return parse_lines(data, source)


def _decoded_lines(data: bytes, source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every line, decoded as UTF-8."""
    lines = []
    for number, raw in enumerate(data.removeprefix(_BOM).split(b"\n"), start=1):
        try:
            lines.append((number, raw.removesuffix(b"\r").decode("utf-8")))
        except UnicodeDecodeError as error:
            raise InputError(f"{source} line {number} is not valid UTF-8 (byte {error.start + 1})") from None
    return lines
