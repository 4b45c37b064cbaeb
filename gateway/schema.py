"""Request bodies of the API (pydantic); answers are built as plain dicts and rendered with orjson."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Unknown fields are ignored, as OpenAI's and Cohere's APIs do (SDKs send fields a server may not know).
_LENIENT = ConfigDict(extra="ignore")


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``, as OpenAI defines it, plus ``prompt_name``.

    ``input`` may be token-id arrays in OpenAI's API; they are accepted by the schema and refused with a clear
    400 by the route (the served ensembles tokenize text themselves).
    """

    model_config = _LENIENT

    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None
    #: Extension: the prompt (sentence-transformers prompt name) to encode with; ``NAME:prompt`` does the same.
    prompt_name: str | None = None


class RerankDocument(BaseModel):
    """A document as ``{"text": ...}`` (Jina, Cohere v1)."""

    model_config = _LENIENT

    text: str


class RerankRequest(BaseModel):
    """``POST /v1/rerank`` / ``/v2/rerank``: the Cohere v2 and Jina shape."""

    model_config = _LENIENT

    model: str
    query: str
    documents: list[str | RerankDocument]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False


class TeiRerankRequest(BaseModel):
    """``POST /rerank``: text-embeddings-inference's shape (``model`` is an extension: TEI serves one model)."""

    model_config = _LENIENT

    query: str
    texts: list[str]
    return_text: bool = False
    raw_scores: bool = False
    model: str | None = None
