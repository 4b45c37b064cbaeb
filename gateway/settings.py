"""The gateway's settings: one frozen record built by the CLI (or a test) and read by the app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable holding API keys, comma-separated.
API_KEYS_ENV = "TRITONIZE_GATEWAY_API_KEYS"
#: Texts per ``/v1/embeddings`` request: OpenAI's own limit.
MAX_INPUTS = 2048
#: Documents per rerank request: Cohere's recommended maximum.
MAX_DOCUMENTS = 1000
#: Characters per text: far above any model's token limit (texts are truncated to it), low enough that a request
#: cannot make the tokenizer chew megabytes.
MAX_TEXT_CHARS = 100_000
#: gRPC deadline of one sub-request to Triton.
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class GatewaySettings:
    """How the gateway reaches Triton and what it accepts.

    Attributes:
        triton_url: Triton's gRPC endpoint (``host:port``).
        repository: The served model repository, when readable here: tokens are then counted with the tokenizer
            models' own files instead of a call to the tokenizer step.
        api_keys: Accepted bearer tokens; empty: no authentication.
        max_inputs: Most texts per embeddings request.
        max_documents: Most documents per rerank request.
        max_text_chars: Most characters per text.
        timeout_s: Deadline of each sub-request to Triton.
        required_models: Models ``/health`` waits for; empty: any embedding or rerank model.
    """

    triton_url: str = "localhost:8001"
    repository: Path | None = None
    api_keys: tuple[str, ...] = ()
    max_inputs: int = MAX_INPUTS
    max_documents: int = MAX_DOCUMENTS
    max_text_chars: int = MAX_TEXT_CHARS
    timeout_s: float = DEFAULT_TIMEOUT_S
    required_models: tuple[str, ...] = ()


def read_api_keys(env_value: str | None = None, key_file: Path | None = None) -> tuple[str, ...]:
    """Keys from a comma-separated environment value and from a file (one per line; ``#`` starts a comment).

    Args:
        env_value: The value of :data:`API_KEYS_ENV` (read from the environment when ``None``).
        key_file: A mounted secret with one key per line.

    Raises:
        OSError: The key file cannot be read.
    """
    value = os.environ.get(API_KEYS_ENV, "") if env_value is None else env_value
    keys = [key.strip() for key in value.split(",")]
    if key_file is not None:
        keys += [line.split("#", 1)[0].strip() for line in key_file.read_text().splitlines()]
    return tuple(dict.fromkeys(key for key in keys if key))
