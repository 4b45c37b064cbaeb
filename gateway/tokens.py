"""``usage.prompt_tokens``: texts' token counts exactly as the model's tokenizer step counts them.

Cheapest exact way first: when the gateway can read the model repository (beside ``python -m server``, or the
repository volume mounted in the sidecar), the tokenizer model's own ``tokenizer.json`` and config parameters
(prompts, ``max_length``, truncation side) build the very :class:`TextEncoder` the served step runs, and counting
costs microseconds of Rust in the gateway. Otherwise a one-step model returns its ``token_count`` output in the
embeddings call itself (:meth:`TokenCounter.in_call`: no extra Triton call), and an ensemble's tokenizer step is
asked for its attention masks, concurrently with the embeddings: exact too, but one more Triton call per
sub-request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from gateway.catalog import ServedModel
from gateway.triton import TritonEngine
from tritonize.errors import TritonizeError
from tritonize.repo_format.tokenizer_encoding import TextEncoder, token_counts
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model

#: Texts with more characters than this in all are tokenized off the event loop.
INLINE_CHARS = 20_000


def count_tokens(encoder: TextEncoder, texts: Sequence[str], prompt: str | None) -> int:
    """Tokens of ``texts`` after their prompt, truncated to the model's ``max_length``, special tokens included."""
    prompted = encoder.with_prompts(list(texts), [prompt] * len(texts))
    return int(token_counts(encoder.tokenizer.encode_batch(prompted)).sum())


class TokenCounter:
    """Counts a request's tokens with the local tokenizer files when readable, else through Triton.

    Args:
        engine: The connection to Triton.
        repository: The served model repository, if this process can read it.
    """

    def __init__(self, engine: TritonEngine, repository: Path | None) -> None:
        self.engine = engine
        self.repository = repository
        self._encoders: dict[str, TextEncoder | None] = {}

    def encoder(self, tokenizer_model: str) -> TextEncoder | None:
        """The local encoder of a tokenizer model (loaded once), ``None`` when its folder cannot be read."""
        if tokenizer_model not in self._encoders:
            encoder = None
            if self.repository is not None:
                try:
                    encoder = load_tokenizer_model(self.repository / tokenizer_model)
                except TritonizeError:
                    encoder = None
            self._encoders[tokenizer_model] = encoder
        return self._encoders[tokenizer_model]

    def in_call(self, model: ServedModel) -> bool:
        """Whether ``model``'s embeddings call should return its token counts.

        So it should for a one-step model that has the ``token_count`` output, when this gateway has no local
        tokenizer files to count with.
        """
        return model.counts_tokens and model.tokenizer is not None and self.encoder(model.tokenizer.model) is None

    async def count(self, model: ServedModel, texts: Sequence[str], prompt: str | None) -> int | None:
        """Tokens of ``texts`` for ``model``; ``None`` when there is no tokenizer step to count with.

        A one-step model without local tokenizer files gives ``None`` too: it counts in the embeddings call
        (:meth:`in_call`), or, exported before it had ``token_count``, not at all.
        """
        if model.tokenizer is None:
            return None
        encoder = self.encoder(model.tokenizer.model)
        if encoder is None and model.tokenizer.model == model.name:  # a one-step model returns no masks
            return None
        if encoder is None:
            return sum(await self.engine.token_counts(model.tokenizer, texts, prompt))
        if sum(len(text) for text in texts) <= INLINE_CHARS:
            return count_tokens(encoder, texts, prompt)
        return await asyncio.to_thread(count_tokens, encoder, texts, prompt)
