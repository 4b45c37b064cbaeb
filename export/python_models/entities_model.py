"""Triton Python-backend model: token classes → entities, grouped as transformers' token-classification pipeline.

This file is copied into ``NAME_entities/<version>/model.py`` beside the model's ``tokenizer.json`` and
``tritonize_tokenizer.py``. Like the tokenizer model it imports only numpy, tokenizers and that file, so the
exporter and the client use the same functions.
For each text it returns one JSON array of ``{entity_group, score, word, start, end}`` (``entity`` and ``index``
instead of ``entity_group`` with strategy ``none``); ``start`` and ``end`` are character offsets into the text.
"""

from __future__ import annotations

import json
import os

import numpy as np

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_tokenizer as encoding
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import tokenizer_encoding as encoding

Tokenizer = encoding.Tokenizer
#: Config parameters: the aggregation strategy and the class names (a JSON list, in index order).
STRATEGY_PARAMETER = "aggregation_strategy"
LABELS_PARAMETER = "labels"
#: Strategies of ``transformers.pipeline("token-classification", aggregation_strategy=...)``.
STRATEGIES = ("none", "simple", "first", "average", "max")
#: Classes the pipeline leaves out of its answer by default.
IGNORE_LABELS = ("O",)
INPUTS = ("TEXT", "input_ids", "offsets", "special_tokens_mask", "logits")
OUTPUT = "entities"
#: Inputs returned unchanged under these names. Triton's ensemble scheduler deadlocks when a client requests
#: only some outputs and one of them also feeds a later step, so the ensemble's ``offsets``,
#: ``special_tokens_mask`` and ``logits`` come from this last step rather than from the steps that make them.
PASSED_THROUGH = {name: f"{name}_out" for name in INPUTS[2:]}


class EntityGrouper:
    """Groups one text's token scores into entities exactly as transformers' pipeline does.

    Args:
        tokenizer: The model's tokenizer (token strings, sub-word prefix, decoder).
        labels: Class names in index order.
        strategy: One of :data:`STRATEGIES`.
        ignore_labels: Classes left out of the answer.
    """

    def __init__(self, tokenizer: Tokenizer, labels: list[str], strategy: str = "simple",
                 ignore_labels: tuple[str, ...] = IGNORE_LABELS) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown aggregation strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.strategy = strategy
        self.ignore_labels = set(ignore_labels)
        self.word_aware = bool(getattr(tokenizer.model, "continuing_subword_prefix", None))
        unk = getattr(tokenizer.model, "unk_token", None)
        self.unk_id = tokenizer.token_to_id(unk) if unk else None

    def label(self, index: int) -> str:
        """Name of class ``index``: its label, or ``LABEL_<index>`` as transformers names classes it has no name for."""
        return self.labels[index] if 0 <= index < len(self.labels) else f"LABEL_{index}"

    def tokens_to_string(self, tokens: list[str]) -> str:
        """What ``convert_tokens_to_string`` of the fast tokenizer makes of ``tokens``."""
        decoder = self.tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def entities(self, text: str, input_ids: np.ndarray, offsets: np.ndarray, special: np.ndarray,
                 logits: np.ndarray) -> list[dict]:
        """Entities of one text from its (padded) token tensors; padding counts as special tokens."""
        logits = logits.astype(np.float32, copy=False)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        scores = shifted / shifted.sum(axis=-1, keepdims=True)
        pre = self._pre_entities(text, input_ids, offsets, special, scores)
        if self.strategy in ("none", "simple"):
            grouped = [{"entity": self.label(int(p["scores"].argmax())), "score": p["scores"].max(),
                        "index": p["index"], "word": p["word"], "start": p["start"], "end": p["end"]} for p in pre]
        else:
            grouped = self._aggregate_words(pre)
        if self.strategy != "none":
            grouped = self._group(grouped)
        kept = [e for e in grouped if e.get("entity", e.get("entity_group")) not in self.ignore_labels]
        return [{key: _plain(value) for key, value in entity.items()} for entity in kept]

    def _pre_entities(self, text: str, input_ids: np.ndarray, offsets: np.ndarray, special: np.ndarray,
                      scores: np.ndarray) -> list[dict]:
        pre = []
        for index, token_scores in enumerate(scores):
            if special[index]:
                continue
            token_id = int(input_ids[index])
            word = self.tokenizer.id_to_token(token_id)
            start, end = int(offsets[index][0]), int(offsets[index][1])
            reference = text[start:end]
            if self.word_aware:
                is_subword = len(word) != len(reference)
            else:
                is_subword = start > 0 and " " not in text[start - 1:start + 1]
            if token_id == self.unk_id:
                word, is_subword = reference, False
            pre.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": index,
                        "is_subword": is_subword})
        return pre

    def _aggregate_words(self, pre: list[dict]) -> list[dict]:
        words, group = [], None
        for entity in pre:
            if group is None:
                group = [entity]
            elif entity["is_subword"]:
                group.append(entity)
            else:
                words.append(self._aggregate_word(group))
                group = [entity]
        if group is not None:
            words.append(self._aggregate_word(group))
        return words

    def _aggregate_word(self, group: list[dict]) -> dict:
        if self.strategy == "first":
            scores = group[0]["scores"]
        elif self.strategy == "max":
            scores = max(group, key=lambda entity: entity["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([entity["scores"] for entity in group]), axis=0)
        best = int(scores.argmax())
        return {"entity": self.label(best), "score": scores[best],
                "word": self.tokens_to_string([entity["word"] for entity in group]),
                "start": group[0]["start"], "end": group[-1]["end"]}

    def _group(self, entities: list[dict]) -> list[dict]:
        groups, pending = [], []
        for entity in entities:
            if pending:
                bi, tag = _tag(entity["entity"])
                if not (tag == _tag(pending[-1]["entity"])[1] and bi != "B"):
                    groups.append(self._group_of(pending))
                    pending = []
            pending.append(entity)
        if pending:
            groups.append(self._group_of(pending))
        return groups

    def _group_of(self, entities: list[dict]) -> dict:
        return {"entity_group": entities[0]["entity"].split("-", 1)[-1],
                "score": np.mean(np.nanmean([entity["score"] for entity in entities])),
                "word": self.tokens_to_string([entity["word"] for entity in entities]),
                "start": entities[0]["start"], "end": entities[-1]["end"]}


def _tag(name: str) -> tuple[str, str]:
    """``(B or I, tag)`` of a class name; names without a B-/I- prefix continue (I)."""
    if name.startswith(("B-", "I-")):
        return name[0], name[2:]
    return "I", name


def _plain(value: object) -> object:
    """JSON-ready numbers (numpy scalars become Python floats and ints)."""
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class TritonPythonModel:
    """The ensemble's last step for token classification: one JSON array of entities per text."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer; read the strategy and class names from the model config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.grouper = EntityGrouper(Tokenizer.from_file(os.path.join(folder, encoding.TOKENIZER_FILENAME)),
                                     json.loads(parameters[LABELS_PARAMETER]), parameters[STRATEGY_PARAMETER])

    def execute(self, requests: list) -> list:
        """Group each text of each request."""
        responses = []
        for request in requests:
            texts, ids, offsets, special, logits = (pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                                                    for name in INPUTS)
            answers = []
            for row, raw in enumerate(texts.reshape(-1)):
                text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
                found = self.grouper.entities(text, ids[row], offsets[row], special[row], logits[row])
                answers.append(json.dumps(found, ensure_ascii=False).encode("utf-8"))
            array = np.array(answers, dtype=np.object_).reshape(-1, 1)
            passed = {INPUTS[2]: offsets, INPUTS[3]: special, INPUTS[4]: logits}
            tensors = [pb_utils.Tensor(OUTPUT, array)]
            tensors += [pb_utils.Tensor(PASSED_THROUGH[name], value) for name, value in passed.items()]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
