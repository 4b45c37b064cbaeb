"""How texts become requests to one model, and answers become predictions, as the model's config dictates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from client import entities
from client.connection import RequestedOutput
from client.errors import InputError, UnsupportedModel
from client.metadata import ModelInterface
from client.results import Prediction, parse_classes, split_token_classes
from tritonize.contract import ENTITIES_OUTPUT, PAIR_INPUTS, TOKEN_INPUT_NAMES
from tritonize.repo_format.tokenizer_encoding import TextEncoder

#: Texts per request for models that do not batch (``max_batch_size: 0``): their leading dimension is not a
#: batch to Triton, so the classification extension would rank the classes of all texts of a request together.
UNBATCHED_TEXTS = 1
#: Texts per request when none is given (capped at ``max_batch_size``). The server's dynamic batcher merges
#: in-flight requests up to ``max_batch_size`` anyway; smaller requests let the tokenizer of one request run
#: while the model computes another. On the 2-core CPU benchmark, 16 instead of 64 raised ``client predict
#: --file`` from 163–169 to 188–189 texts/s on 10,000 short texts, 19 to 21 on 1,000 long ones (README,
#: Performance).
DEFAULT_REQUEST_TEXTS = 16
#: Asks the classification extension for every element of a per-token output (it caps at the element count).
ALL_CLASSES = 1 << 30

Inputs = list[tuple[str, str, np.ndarray]]


@dataclass(frozen=True)
class RequestPlan:
    """What to send to a model and what to ask back.

    Attributes:
        interface: The model's tensors, from its config.
        batch_size: Texts per request (at most the model's ``max_batch_size``; default
            :data:`DEFAULT_REQUEST_TEXTS`).
        top_k: Classes to return per text (per token for token outputs); ``None``: all classes per text, the
            best one per token.
        encoder: Client-side tokenizer, for models that take token tensors.
    """

    interface: ModelInterface
    batch_size: int
    top_k: int | None = None
    encoder: TextEncoder | None = None

    @classmethod
    def build(cls, interface: ModelInterface, batch_size: int | None = None, top_k: int | None = None,
              encoder: TextEncoder | None = None) -> RequestPlan:
        """Check that the model can be fed and fix the batch size.

        Raises:
            UnsupportedModel: The model takes neither text nor token tensors, takes tokens but no ``encoder``
                was given, or ``top_k`` was asked of a model without labelled outputs.
        """
        name = interface.name
        if interface.takes_text:
            if math.prod(d if d > 0 else 1 for d in _item_dims(interface, interface.inputs[0].dims)) != 1:
                raise UnsupportedModel(f"Model '{name}' takes more than one string per item")
            encoder = None
        elif interface.takes_tokens:
            unknown = [t.name for t in interface.inputs if t.name not in TOKEN_INPUT_NAMES]
            if unknown:
                raise UnsupportedModel(f"Model '{name}' takes token tensors a tokenizer does not produce: "
                                       f"{', '.join(unknown)} (known: {', '.join(TOKEN_INPUT_NAMES)})")
            if encoder is None:
                names = ", ".join(t.name for t in interface.inputs)
                raise UnsupportedModel(f"Model '{name}' takes token tensors ({names}), not text: "
                                       "pass --tokenizer (a tokenizer.json or a tokenizer model folder)")
            encoder = encoder.for_outputs([t.name for t in interface.inputs])
        elif [t.name for t in interface.inputs] == [t.name for t in PAIR_INPUTS]:
            raise UnsupportedModel(f"Model '{name}' scores (query, passage) pairs: use client rerank "
                                   "(TextClient.rerank)")
        else:
            kinds = ", ".join(f"{t.name} ({t.triton_dtype})" for t in interface.inputs) or "none"
            raise UnsupportedModel(f"Model '{name}' takes neither text nor token tensors; its inputs: {kinds}")
        if top_k is not None and top_k < 1:
            raise UnsupportedModel(f"top-k must be at least 1, not {top_k}")
        if top_k is not None and interface.score_output() is None:
            raise UnsupportedModel(f"Model '{name}' has no labelled output to rank classes of (no label file)")
        limit = interface.max_batch_size or UNBATCHED_TEXTS
        size = min(batch_size or DEFAULT_REQUEST_TEXTS, limit)
        if size < 1:
            raise UnsupportedModel(f"Batch size must be at least 1, not {batch_size}")
        return cls(interface=interface, batch_size=size, top_k=top_k, encoder=encoder)

    @property
    def model(self) -> str:
        """The model the requests go to."""
        return self.interface.name

    def outputs(self) -> list[RequestedOutput]:
        """Every output of the model; the score output through the classification extension."""
        score = self.interface.score_output()
        requested = []
        for spec in self.interface.outputs:
            count = self._class_count(spec.dims) if spec is score else 0
            requested.append(RequestedOutput(spec.name, class_count=count))
        return requested

    def inputs(self, texts: Sequence[str], positions: Sequence[int] | None = None) -> Inputs:
        """The input tensors of one request carrying ``texts`` (at ``positions`` of the whole input)."""
        if self.encoder is None:
            spec = self.interface.inputs[0]
            shape = [len(texts), *(1 for _ in _item_dims(self.interface, spec.dims))]
            array = np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(shape)
            return [(spec.name, spec.triton_dtype, array)]
        for row, text in enumerate(texts):
            if not text.strip():
                position = positions[row] if positions is not None else row
                raise InputError(f"Cannot tokenize text {position + 1}: it is empty")
        arrays = self.encoder.encode(list(texts))
        return [(t.name, t.triton_dtype, arrays[t.name].astype(t.numpy_dtype, copy=False))
                for t in self.interface.inputs]

    def predictions(self, texts: Sequence[str], arrays: dict[str, np.ndarray],
                    positions: Sequence[int] | None = None) -> list[Prediction]:
        """One prediction per text from a request's output arrays (``positions``: the texts' input indices)."""
        score = self.interface.score_output()
        spans = entities.has_spans([spec.name for spec in self.interface.outputs])
        result = []
        for row, text in enumerate(texts):
            outputs, labels, token_labels = {}, (), ()
            for spec in self.interface.outputs:
                value = arrays[spec.name][row]
                if spec is not score or not self._class_count(spec.dims):
                    outputs[spec.name] = value
                    continue
                if self.interface.max_batch_size == 0:  # one flat class list per request, of its one text
                    value = arrays[spec.name].reshape(-1)
                if len(_item_dims(self.interface, spec.dims)) == 1:
                    labels = tuple(parse_classes(value))
                else:
                    num_labels = _item_dims(self.interface, spec.dims)[-1]
                    token_labels = split_token_classes(parse_classes(value), num_labels, self.top_k or 1)
            index = positions[row] if positions is not None else row
            found, offsets = None, ()
            if spans:
                served = outputs.get(ENTITIES_OUTPUT.name)
                found = entities.parse_entities(served) if served is not None else ()
                values = {spec.name: arrays[spec.name][row] for spec in self.interface.outputs}
                outputs, token_labels, offsets = entities.real_tokens(values, outputs, token_labels)
            result.append(Prediction(index=index, text=text, outputs=outputs, labels=labels,
                                     token_labels=token_labels, token_offsets=offsets, entities=found))
        return result

    def _class_count(self, dims: tuple[int, ...]) -> int:
        """Classes to ask of a labelled output: top-k (all by default) per text, or all elements per token."""
        item = _item_dims(self.interface, dims)
        if len(item) == 1 and item[0] > 0:
            return min(self.top_k or item[0], item[0])
        if len(item) == 2 and item[-1] > 0:
            return ALL_CLASSES
        return 0


def _item_dims(interface: ModelInterface, dims: tuple[int, ...]) -> tuple[int, ...]:
    """Dims of one batch item: config dims, without the leading batch dim of models that do not batch."""
    return tuple(dims) if interface.max_batch_size > 0 else tuple(dims[1:])
