"""Checks of a request's texts, documents and options: each failure is a 400 naming the field at fault."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import BadRequest


def embedding_texts(value: str | list, max_inputs: int, max_chars: int) -> list[str]:
    """The texts of ``input``: one string or a list of strings.

    Raises:
        BadRequest: Token-id arrays, an empty list, more than ``max_inputs`` texts, an empty or blank text, or a
            text longer than ``max_chars`` characters.
    """
    texts = [value] if isinstance(value, str) else list(value)
    if any(not isinstance(text, str) for text in texts):
        raise BadRequest("Token-id arrays are not supported as 'input': send text (a string or a list of strings); "
                         "the served model tokenizes it with its own tokenizer", param="input",
                         code="unsupported_input")
    return checked_texts(texts, "input", max_inputs, max_chars)


def rerank_documents(documents: Sequence[object], max_documents: int, max_chars: int) -> list[str]:
    """The documents' texts: strings or ``{"text": ...}`` objects.

    Raises:
        BadRequest: No documents, too many, or an empty, blank or too long one.
    """
    texts = [document if isinstance(document, str) else document.text for document in documents]  # type: ignore[attr-defined]
    return checked_texts(texts, "documents", max_documents, max_chars)


def checked_texts(texts: list[str], param: str, limit: int, max_chars: int) -> list[str]:
    """``texts`` when there are 1 to ``limit`` of them, none blank or over ``max_chars`` characters.

    Raises:
        BadRequest: Otherwise.
    """
    if not texts:
        raise BadRequest(f"'{param}' is empty: send at least one text", param=param)
    if len(texts) > limit:
        raise BadRequest(f"'{param}' has {len(texts)} texts; at most {limit} are accepted per request", param=param,
                         code="too_many_inputs")
    for position, text in enumerate(texts):
        if not text.strip():
            raise BadRequest(f"'{param}[{position}]' is empty: every text needs at least one non-blank character",
                             param=param)
        if len(text) > max_chars:
            raise BadRequest(f"'{param}[{position}]' has {len(text)} characters; at most {max_chars} are accepted",
                             param=param, code="input_too_long")
    return texts


def check_query(query: str, max_chars: int) -> str:
    """The rerank query when it is neither blank nor too long.

    Raises:
        BadRequest: Otherwise.
    """
    if not query.strip():
        raise BadRequest("'query' is empty", param="query")
    if len(query) > max_chars:
        raise BadRequest(f"'query' has {len(query)} characters; at most {max_chars} are accepted", param="query",
                         code="input_too_long")
    return query


def check_dimensions(dimensions: int | None, width: int, model: str) -> int:
    """The embedding width to answer with: ``dimensions`` (1 to the model's width) or the full width.

    Raises:
        BadRequest: ``dimensions`` is above the model's width.
    """
    if dimensions is None:
        return width
    if not 1 <= dimensions <= width:
        raise BadRequest(f"'dimensions' must be between 1 and {width}, the width of '{model}'s embeddings, not "
                         f"{dimensions}", param="dimensions")
    return dimensions


def top_results(scores: Sequence[float], top_n: int | None) -> list[int]:
    """Indices of the ``top_n`` highest scores (all by default), best first; ties keep the input order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return order[:top_n] if top_n is not None else order
