"""The tokenizer model's parameters and its encoder: texts in, padded token arrays out.

Imports numpy and tokenizers only and parses on Python 3.10: the exporter copies this file beside the
tokenizer model's ``model.py`` (as ``tritonize_tokenizer.py``), where it runs in Triton's Python-backend stub,
and the exporter's verification and the client import the very same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from tokenizers import Tokenizer

#: The tokenizer model's tokenizer, in each of its version folders.
TOKENIZER_FILENAME = "tokenizer.json"
#: Config parameter keys of the tokenizer model (``parameters { key: ... value { string_value: ... } }``).
MAX_LENGTH_KEY = "max_length"
PAD_TO_MULTIPLE_OF_KEY = "pad_to_multiple_of"
PAD_TOKEN_ID_KEY = "pad_token_id"
PADDING_SIDE_KEY = "padding_side"
TRUNCATION_SIDE_KEY = "truncation_side"
#: The prompts (sentence-transformers ``prompts``) as a JSON object of name → text.
PROMPTS_KEY = "prompts"
DEFAULT_PROMPT_NAME_KEY = "default_prompt_name"
#: The text input of a text model, and the two text inputs of a pair model (rerankers): one query and one passage
#: per batch item, tokenized as one pair.
TEXT_INPUT = "TEXT"
PAIR_INPUTS = ("QUERY", "PASSAGE")
#: Optional request input of models with prompts: the prompt name per text, or one for the whole request.
PROMPT_NAME_INPUT = "PROMPT_NAME"
#: Token tensors the encoder can produce, in the order models take them.
TOKEN_NAMES = ("input_ids", "attention_mask", "token_type_ids")
#: Optional output of the one-step model: each text's token count (see :func:`token_counts`), returned only when
#: a request asks for it (the gateway's ``usage``).
TOKEN_COUNT_OUTPUT = "token_count"


@dataclass(frozen=True)
class TokenizerParameters:
    """What the tokenizer model reads from its config, besides tensor names and dtypes.

    Attributes:
        max_length: Texts are truncated to this many tokens.
        pad_to_multiple_of: Each batch is padded to its longest text rounded up to a multiple of this.
        pad_token_id: Token id of the padding.
        padding_side: ``right`` or ``left`` (decoder models), as the model's tokenizer pads.
        truncation_side: ``right`` or ``left``, as the model's tokenizer truncates.
        prompts: Prompt name → text prepended to each text (sentence-transformers ``prompts``).
        default_prompt_name: The prompt applied when a request names none.
    """

    max_length: int
    pad_to_multiple_of: int
    pad_token_id: int
    padding_side: str = "right"
    truncation_side: str = "right"
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    def as_strings(self) -> dict[str, str]:
        """The config parameters: key → string value (prompts only for models that have them)."""
        strings = {MAX_LENGTH_KEY: str(self.max_length), PAD_TO_MULTIPLE_OF_KEY: str(self.pad_to_multiple_of),
                   PAD_TOKEN_ID_KEY: str(self.pad_token_id), PADDING_SIDE_KEY: self.padding_side,
                   TRUNCATION_SIDE_KEY: self.truncation_side}
        if self.prompts:
            strings[PROMPTS_KEY] = json.dumps(self.prompts, ensure_ascii=False, sort_keys=True)
        if self.default_prompt_name:
            strings[DEFAULT_PROMPT_NAME_KEY] = self.default_prompt_name
        return strings

    @classmethod
    def from_strings(cls, parameters: dict[str, str]) -> TokenizerParameters:
        """Read them back from config parameters (key → string value).

        Raises:
            KeyError: A key is missing.
            ValueError: A value is not an integer, or the prompts are not a JSON object.
        """
        prompts = dict(json.loads(parameters.get(PROMPTS_KEY) or "{}"))
        return cls(int(parameters[MAX_LENGTH_KEY]), int(parameters[PAD_TO_MULTIPLE_OF_KEY]),
                   int(parameters[PAD_TOKEN_ID_KEY]), parameters.get(PADDING_SIDE_KEY) or "right",
                   parameters.get(TRUNCATION_SIDE_KEY) or "right", prompts,
                   parameters.get(DEFAULT_PROMPT_NAME_KEY) or None)


class TextError(ValueError):
    """A text the tokenizer refuses (not UTF-8, empty)."""


class TextEncoder:
    """Tokenizes a batch of texts into padded int64 arrays.

    Texts longer than ``max_length`` tokens are truncated (on ``truncation_side``). Each batch is padded (on
    ``padding_side``) to its longest text rounded up to a multiple of ``pad_to_multiple_of`` (capped at
    ``max_length``), so requests of similar length get equal shapes and Triton's dynamic batcher can merge them.
    A prompt (by name, else the default one) is prepended to every text, as sentence-transformers does.
    """

    def __init__(self, tokenizer: Tokenizer, output_names: list[str], max_length: int,
                 pad_to_multiple_of: int, pad_token_id: int, padding_side: str = "right",
                 truncation_side: str = "right", prompts: dict[str, str] | None = None,
                 default_prompt_name: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length, direction=truncation_side)
        self.output_names = list(output_names)
        self.max_length = max_length
        self.pad_to_multiple_of = max(1, pad_to_multiple_of)
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.prompts = dict(prompts or {})
        self.default_prompt_name = default_prompt_name or None

    @classmethod
    def with_parameters(cls, tokenizer: Tokenizer, output_names: list[str],
                        parameters: TokenizerParameters) -> TextEncoder:
        """An encoder with the tokenizer model's ``parameters``."""
        return cls(tokenizer, output_names, parameters.max_length, parameters.pad_to_multiple_of,
                   parameters.pad_token_id, parameters.padding_side, parameters.truncation_side,
                   parameters.prompts, parameters.default_prompt_name)

    @classmethod
    def from_file(cls, path: str, output_names: list[str], max_length: int, pad_to_multiple_of: int,
                  pad_token_id: int) -> TextEncoder:
        """Load ``tokenizer.json`` from ``path``."""
        return cls(Tokenizer.from_file(path), output_names, max_length, pad_to_multiple_of, pad_token_id)

    @property
    def parameters(self) -> TokenizerParameters:
        """The parameters this encoder pads with."""
        return TokenizerParameters(self.max_length, self.pad_to_multiple_of, self.pad_token_id, self.padding_side,
                                   self.truncation_side, dict(self.prompts), self.default_prompt_name)

    def for_outputs(self, output_names: list[str]) -> TextEncoder:
        """The same encoder (tokenizer, limits, sides, prompts) producing ``output_names``."""
        return TextEncoder.with_parameters(self.tokenizer, output_names, self.parameters)

    def prompt(self, name: str | None) -> str:
        """Text of the prompt ``name``; the default prompt when ``name`` is ``None`` or empty.

        Raises:
            TextError: No prompt of that name.
        """
        if not name:
            return self.prompts.get(self.default_prompt_name, "") if self.default_prompt_name else ""
        if name not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "none"
            raise TextError(f"Unknown {PROMPT_NAME_INPUT} '{name}': this model's prompts are {known}")
        return self.prompts[name]

    def with_prompts(self, texts: list[str], names: list[str | None]) -> list[str]:
        """Each text with its prompt (by name, else the default) prepended."""
        return [self.prompt(name) + text for text, name in zip(texts, names)]

    def padded_length(self, longest: int) -> int:
        """The sequence length a batch whose longest text has ``longest`` tokens is padded to."""
        bucket = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return max(1, min(bucket, self.max_length))

    def encode(self, texts: list[str], prompt_name: str | None = None) -> dict[str, np.ndarray]:
        """Tokenize ``texts`` (after the prompt) into ``{output name: int64 array [len(texts), padded length]}``."""
        return self.pad(self.tokenizer.encode_batch(self.with_prompts(texts, [prompt_name] * len(texts))))

    def encode_pairs(self, queries: list[str], passages: list[str]) -> dict[str, np.ndarray]:
        """Tokenize ``(query, passage)`` pairs as the model's tokenizer does pairs, longer side truncated first.

        Pairs take no prompt (sentence-transformers' CrossEncoder has none); the padding side applies as to texts.
        """
        return self.pad(self.tokenizer.encode_batch(list(zip(queries, passages))))

    def pad(self, encodings: list) -> dict[str, np.ndarray]:
        """Pad already tokenized texts into arrays (see :meth:`encode`).

        Besides the model's token tensors, ``offsets`` (``[n, length, 2]``: each token's character span in its
        text) and ``special_tokens_mask`` (1 for special tokens and padding) are made when asked for; they sit
        on the same positions as the tokens, whichever the padding side.
        """
        length = self.padded_length(max(len(e.ids) for e in encodings))
        arrays = {
            "input_ids": np.full((len(encodings), length), self.pad_token_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encodings), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encodings), length), dtype=np.int64),
        }
        spans = "offsets" in self.output_names
        if spans:
            arrays["offsets"] = np.zeros((len(encodings), length, 2), dtype=np.int64)
            arrays["special_tokens_mask"] = np.ones((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            span = slice(length - n, length) if self.padding_side == "left" else slice(0, n)
            arrays["input_ids"][row, span] = encoding.ids
            arrays["attention_mask"][row, span] = encoding.attention_mask
            arrays["token_type_ids"][row, span] = encoding.type_ids
            if spans:
                arrays["offsets"][row, span] = np.asarray(encoding.offsets, dtype=np.int64).reshape(n, 2)
                arrays["special_tokens_mask"][row, span] = encoding.special_tokens_mask
        return {name: arrays[name] for name in self.output_names}


def token_counts(encodings: list) -> np.ndarray:
    """Tokens per encoded text (int64, one per text): its attention mask's sum before padding.

    That is the prompt and special tokens included, after truncation to ``max_length``: the encoder's tokenizer
    pads nothing (:class:`TextEncoder` turns its padding off), so each encoding holds exactly its own tokens.
    """
    return np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)


def prompt_names(items: np.ndarray | None, count: int) -> list[str | None]:
    """A request's prompt names per text (one item applies to all), or ``None`` each when it sent none.

    Raises:
        TextError: The number of names matches neither one nor the number of texts.
    """
    if items is None:
        return [None] * count
    names = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in items.reshape(-1)]
    if len(names) == 1:
        return names * count
    if len(names) != count:
        raise TextError(f"{PROMPT_NAME_INPUT} has {len(names)} items for {count} texts: send one, or one per text")
    return names


def decode_texts(items: np.ndarray, name: str = TEXT_INPUT) -> list[str]:
    """Turn a TEXT tensor (bytes objects) into strings, refusing invalid UTF-8 and empty texts."""
    texts = []
    for index, item in enumerate(items.reshape(-1)):
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextError(f"{name} item {index} is not valid UTF-8 (byte {error.start})") from None
        if not text.strip():
            raise TextError(f"{name} item {index} is empty")
        texts.append(text)
    return texts


def decode_pairs(queries: np.ndarray, passages: np.ndarray) -> list[tuple[str, str]]:
    """Turn QUERY and PASSAGE tensors into pairs, refusing unequal lengths, invalid UTF-8 and empty sides."""
    first, second = decode_texts(queries, PAIR_INPUTS[0]), decode_texts(passages, PAIR_INPUTS[1])
    if len(first) != len(second):
        raise TextError(f"{PAIR_INPUTS[0]} has {len(first)} items but {PAIR_INPUTS[1]} has {len(second)}; "
                        f"send one passage per query")
    return list(zip(first, second))
