"""The tokenizer model's TextEncoder: length buckets, truncation and refused texts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.tiny_models import wordpiece_tokenizer
from tritonize.repo_format.tokenizer_encoding import (
    TextEncoder,
    TextError,
    TokenizerParameters,
    decode_texts,
    token_counts,
)


def encoder(pad: int = 16, max_length: int = 40) -> TextEncoder:
    return TextEncoder(wordpiece_tokenizer(), ["input_ids", "attention_mask", "token_type_ids"], max_length, pad, 0)


def test_pads_to_bucket_and_masks_padding() -> None:
    arrays = encoder().encode(["hello world", "the quick brown fox jumps over the lazy dog"])
    assert arrays["input_ids"].shape == (2, 16) and arrays["input_ids"].dtype == np.int64
    assert arrays["attention_mask"][0].tolist() == [1] * 4 + [0] * 12
    assert arrays["input_ids"][0, 4:].tolist() == [0] * 12


@pytest.mark.parametrize(("pad", "expected"), [(1, 4), (8, 8), (16, 16), (32, 32)])
def test_bucket_sizes(pad: int, expected: int) -> None:
    assert encoder(pad).encode(["hello world"])["input_ids"].shape[1] == expected


def test_truncates_to_max_length_and_caps_the_bucket() -> None:
    arrays = encoder(pad=16, max_length=40).encode([" ".join(["hello"] * 100)])
    assert arrays["input_ids"].shape == (1, 40)
    assert arrays["attention_mask"].sum() == 40


def test_token_counts_are_the_attention_masks_row_sums_after_truncation() -> None:
    texts = ["hello world", "the quick brown fox jumps over the lazy dog", " ".join(["hello"] * 100)]
    tokens = encoder(pad=16, max_length=40)
    counts = token_counts(tokens.tokenizer.encode_batch(texts))
    assert counts.dtype == np.int64 and counts.tolist() == tokens.encode(texts)["attention_mask"].sum(axis=1).tolist()
    assert counts.tolist()[0] == 4 and counts.tolist()[2] == 40  # [CLS] hello world [SEP]; capped at max_length


def test_decode_refuses_invalid_utf8_and_empty_texts() -> None:
    assert decode_texts(np.array([[b"caf\xc3\xa9"]], dtype=object)) == ["café"]
    with pytest.raises(TextError, match=r"TEXT item 1 is not valid UTF-8 \(byte 0\)"):
        decode_texts(np.array([b"ok", b"\xff\xfe"], dtype=object))
    with pytest.raises(TextError, match="TEXT item 0 is empty"):
        decode_texts(np.array([b"   "], dtype=object))


def test_left_padding_puts_the_text_last() -> None:
    arrays = TextEncoder(wordpiece_tokenizer(), ["input_ids", "attention_mask"], 40, 8, 0,
                         padding_side="left").encode(["hello world", "the quick brown fox jumps"])
    right = encoder(pad=8).encode(["hello world"])
    assert arrays["attention_mask"][0].tolist() == [0] * 4 + [1] * 4
    assert arrays["input_ids"][0, 4:].tolist() == right["input_ids"][0, :4].tolist()


def test_left_truncation_keeps_the_end() -> None:
    words = " ".join(["hello"] * 50 + ["dog"])
    arrays = TextEncoder(wordpiece_tokenizer(), ["input_ids", "attention_mask"], 10, 8, 0,
                         truncation_side="left").encode([words])
    tokenizer = wordpiece_tokenizer()
    ids = arrays["input_ids"][0].tolist()
    assert len(ids) == 10 and tokenizer.token_to_id("dog") == ids[-2] and ids[0] == tokenizer.token_to_id("[CLS]")


def test_prompts_by_name_default_and_unknown() -> None:
    parameters = {"max_length": "40", "pad_to_multiple_of": "8", "pad_token_id": "0",
                  "prompts": '{"query": "query: ", "document": ""}', "default_prompt_name": "query"}
    prompted = TextEncoder.with_parameters(wordpiece_tokenizer(), ["input_ids"],
                                           TokenizerParameters.from_strings(parameters))
    plain = encoder(pad=8)
    assert prompted.with_prompts(["a", "b"], [None, "document"]) == ["query: a", "b"]
    assert prompted.encode(["dog"])["input_ids"].tolist() == plain.encode(["query: dog"])["input_ids"].tolist()
    assert prompted.encode(["dog"], "document")["input_ids"].tolist() == plain.encode(["dog"])["input_ids"].tolist()
    with pytest.raises(TextError, match="Unknown PROMPT_NAME 'nope': this model's prompts are document, query"):
        prompted.prompt("nope")


def test_left_padding_keeps_offsets_and_special_mask_on_their_tokens() -> None:
    outputs = ["input_ids", "offsets", "special_tokens_mask"]
    left = TextEncoder(wordpiece_tokenizer(), outputs, 40, 8, 0, padding_side="left")
    right = TextEncoder(wordpiece_tokenizer(), outputs, 40, 8, 0)
    texts = ["hello world", "the quick brown fox jumps"]
    padded_left, padded_right = left.encode(texts), right.encode(texts)
    for row in range(len(texts)):
        real_left = padded_left["input_ids"][row] != 0
        real_right = padded_right["input_ids"][row] != 0
        for name in outputs:
            assert padded_left[name][row][real_left].tolist() == padded_right[name][row][real_right].tolist()
        assert padded_left["special_tokens_mask"][row][~real_left].tolist() == [1] * int((~real_left).sum())


def test_pairs_take_no_prompt_and_follow_the_padding_side() -> None:
    prompted = TextEncoder(wordpiece_tokenizer(), ["input_ids", "attention_mask"], 40, 8, 0, padding_side="left",
                           prompts={"query": "query: "}, default_prompt_name="query")
    plain = TextEncoder(wordpiece_tokenizer(), ["input_ids", "attention_mask"], 40, 8, 0, padding_side="left")
    queries, passages = ["hello", "hello"], ["world", "the quick brown fox jumps over the lazy dog"]
    pairs = prompted.encode_pairs(queries, passages)
    assert pairs["input_ids"].tolist() == plain.encode_pairs(queries, passages)["input_ids"].tolist()
    assert pairs["attention_mask"][0, 0] == 0 and pairs["attention_mask"][0, -1] == 1
