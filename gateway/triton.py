"""The one asyncio gRPC connection to Triton: model configs, readiness, and batched inference.

A request's texts go to Triton in sub-requests of the ensemble's ``max_batch_size``, all in flight at once over
the one channel, so Triton's dynamic batcher and instances see them together. Triton's failures become the
gateway's errors (:mod:`gateway.errors`) here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aio
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from client.token_lengths import MASK_OUTPUT, TokenizerStep, mask_lengths
from gateway.catalog import EMBEDDINGS_OUTPUT, SCORES_OUTPUT, ServedModel
from gateway.errors import BadRequest, GatewayError, ModelNotFound, Unavailable, UpstreamError
from tritonize.contract import TOKEN_COUNT
from tritonize.repo_format.tokenizer_encoding import PAIR_INPUTS, PROMPT_NAME_INPUT, TEXT_INPUT

T = TypeVar("T")

#: Triton's gRPC status → the gateway's error: overload, a model not ready and a server that cannot be reached
#: (all ``UNAVAILABLE``) are the caller's to retry.
_STATUS_ERRORS: dict[str, type[GatewayError]] = {
    "StatusCode.UNAVAILABLE": Unavailable,
    "StatusCode.RESOURCE_EXHAUSTED": Unavailable,
    "StatusCode.DEADLINE_EXCEEDED": Unavailable,
    "StatusCode.INVALID_ARGUMENT": BadRequest,
    "StatusCode.NOT_FOUND": ModelNotFound,
}
READY = "READY"


def gateway_error(error: InferenceServerException) -> GatewayError:
    """The gateway error for a Triton failure: its gRPC status decides the HTTP status."""
    status = str(error.status() or "")
    lines = (error.message() or str(error) or status).strip().splitlines()
    kind = _STATUS_ERRORS.get(status, UpstreamError)
    return kind(f"Triton: {lines[0] if lines else status}")  # the first line: Python-backend tracebacks follow it


def chunks(count: int, size: int) -> list[slice]:
    """Slices of ``range(count)`` of at most ``size`` items each, in order."""
    size = max(size, 1)
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def _strings(name: str, values: Sequence[str]) -> grpcclient.InferInput:
    """A ``[n, 1]`` BYTES input of UTF-8 strings."""
    tensor = grpcclient.InferInput(name, [len(values), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([v.encode("utf-8") for v in values], dtype=np.object_).reshape(-1, 1))
    return tensor


class TritonEngine:
    """Inference and model discovery over one reused ``tritonclient.grpc.aio`` channel.

    Args:
        url: Triton's gRPC endpoint (``host:port``).
        timeout_s: Deadline of each call.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client = aio.InferenceServerClient(url)

    async def close(self) -> None:
        """Close the channel."""
        await self._client.close()

    async def _call(self, call: Awaitable[T]) -> T:
        """Await a Triton call; its failure as a gateway error."""
        try:
            return await call
        except InferenceServerException as error:
            raise gateway_error(error) from None

    async def server_ready(self) -> bool:
        """Whether Triton answers and reports ready (``False`` when it cannot be reached)."""
        try:
            return bool(await self._client.is_server_ready(client_timeout=min(self.timeout_s, 5.0)))
        except InferenceServerException:
            return False

    async def ready_configs(self) -> dict[str, mc.ModelConfig]:
        """The config of every model Triton reports ready, by name.

        Raises:
            Unavailable: Triton cannot be reached.
        """
        index = await self._call(self._client.get_model_repository_index(client_timeout=self.timeout_s))
        names = sorted({model.name for model in index.models if model.state == READY})
        answers = await asyncio.gather(*(self._call(self._client.get_model_config(name, client_timeout=self.timeout_s))
                                         for name in names), return_exceptions=True)
        return {name: answer.config for name, answer in zip(names, answers) if not isinstance(answer, BaseException)}

    async def embed(self, model: ServedModel, texts: Sequence[str], prompt: str | None,
                    count_tokens: bool = False) -> tuple[np.ndarray, int | None]:
        """``[len(texts), dimensions]`` float32 embeddings, from concurrent sub-requests of the model's batch size.

        With ``count_tokens`` (a one-step model with ``token_count``: ``model.counts_tokens``), the same calls
        also return each text's token count, and their sum comes second; else ``None`` does.
        """
        parts = await asyncio.gather(*(self._embed_part(model.name, texts[part], prompt, count_tokens)
                                       for part in chunks(len(texts), model.max_batch_size)))
        vectors = np.concatenate([vectors for vectors, _ in parts], axis=0)
        return vectors, (sum(tokens for _, tokens in parts) if count_tokens else None)

    async def _embed_part(self, model: str, texts: Sequence[str], prompt: str | None,
                          count_tokens: bool) -> tuple[np.ndarray, int]:
        inputs = [_strings(TEXT_INPUT, texts)]
        if prompt is not None:
            inputs.append(_strings(PROMPT_NAME_INPUT, [prompt] * len(texts)))
        names = [EMBEDDINGS_OUTPUT, TOKEN_COUNT.name] if count_tokens else [EMBEDDINGS_OUTPUT]
        result = await self._call(self._client.infer(
            model, inputs, outputs=[grpcclient.InferRequestedOutput(name) for name in names],
            client_timeout=self.timeout_s))
        tokens = int(result.as_numpy(TOKEN_COUNT.name).sum()) if count_tokens else 0
        return result.as_numpy(EMBEDDINGS_OUTPUT).reshape(len(texts), -1), tokens

    async def token_counts(self, step: TokenizerStep, texts: Sequence[str], prompt: str | None) -> list[int]:
        """Tokens per text as the ensemble's tokenizer step counts them (its attention masks' row sums)."""
        counts: list[int] = []
        for part in await asyncio.gather(*(self._count_part(step, texts[part], prompt)
                                           for part in chunks(len(texts), step.max_batch_size))):
            counts += part
        return counts

    async def _count_part(self, step: TokenizerStep, texts: Sequence[str], prompt: str | None) -> list[int]:
        inputs = [_strings(step.text_input, texts)]
        if prompt is not None:
            inputs.append(_strings(PROMPT_NAME_INPUT, [prompt] * len(texts)))
        result = await self._call(self._client.infer(
            step.model, inputs, outputs=[grpcclient.InferRequestedOutput(MASK_OUTPUT)], client_timeout=self.timeout_s))
        return mask_lengths(result.as_numpy(MASK_OUTPUT))

    async def rerank(self, model: ServedModel, query: str, documents: Sequence[str]) -> np.ndarray:
        """One relevance score per document, from concurrent sub-requests of (query, document) pairs."""
        parts = await asyncio.gather(*(self._score_part(model.name, query, documents[part])
                                       for part in chunks(len(documents), model.max_batch_size)))
        return np.concatenate(parts, axis=0)

    async def _score_part(self, model: str, query: str, documents: Sequence[str]) -> np.ndarray:
        inputs = [_strings(PAIR_INPUTS[0], [query] * len(documents)), _strings(PAIR_INPUTS[1], documents)]
        result = await self._call(self._client.infer(
            model, inputs, outputs=[grpcclient.InferRequestedOutput(SCORES_OUTPUT)], client_timeout=self.timeout_s))
        return result.as_numpy(SCORES_OUTPUT).reshape(len(documents))
