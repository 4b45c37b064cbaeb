"""Named entities served by the real local Triton, equal to transformers' token-classification pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner
from transformers import pipeline

from client import TextClient
from client.cli import cli
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_tagger

#: Mixed lengths: sub-word splits, accents, emoji, CJK (unknown to the vocabulary), and one text past 64 tokens.
TEXTS = [
    "John lives in Paris.",
    "Ünïcödé, émojis 🙂 and 漢字 must survive tokenization",
    "hello",
    "the quick brown fox jumps over the lazy dog, screen is sharp but speaker far too quiet",
    " ".join(["long inputs are truncated to model maximum length"] * 10),
]
#: Exported ensembles: name → (tagger kind, aggregation strategy, formats).
EXPORTS = {
    "ner": ("wordpiece", "simple", ("onnx", "torchscript")),
    "ner_ts": ("wordpiece", "max", ("torchscript",)),
    "ner_first": ("wordpiece", "first", ("onnx",)),
    "ner_average": ("wordpiece", "average", ("onnx",)),
    "ner_bpe": ("byte-level", "simple", ("onnx",)),
    "ner_none": ("byte-level", "none", ("onnx",)),
}


@pytest.fixture(scope="module")
def taggers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("taggers")
    made = {}
    for kind in ("wordpiece", "byte-level"):
        (root / kind).mkdir()
        made[kind] = make_tagger(root / kind, byte_level=kind == "byte-level")
    return made


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory, taggers: dict[str, Path]):
    repository = tmp_path_factory.mktemp("entities-repo") / "model_repository"
    for name, (kind, strategy, formats) in EXPORTS.items():
        export_into(repository, str(taggers[kind]), name, formats=formats, aggregation_strategy=strategy)
    with LocalTriton(repository, ready_timeout=120) as server:
        yield server


def reference(folder: Path, strategy: str, texts: list[str]) -> list[list[dict]]:
    """The pipeline's entities with plain Python numbers."""
    tagger = pipeline("token-classification", model=str(folder), aggregation_strategy=strategy)
    return [[{key: value.item() if isinstance(value, np.generic) else value for key, value in entity.items()}
             for entity in tagger(text)] for text in texts]


def assert_same_entities(served: list[list[dict]], expected: list[list[dict]]) -> None:
    assert sum(len(entities) for entities in expected) > 0
    for got, want in zip(served, expected, strict=True):
        assert [{k: v for k, v in e.items() if k != "score"} for e in got] == \
            [{k: v for k, v in e.items() if k != "score"} for e in want]
        np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in want], atol=1e-4)


def text_input(module: object, texts: list[str]) -> object:
    tensor = module.InferInput("TEXT", [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
    return tensor


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("name", list(EXPORTS))
def test_served_entities_equal_the_pipeline(triton: LocalTriton, taggers: dict[str, Path], protocol: str,
                                           name: str) -> None:
    kind, strategy, _ = EXPORTS[name]
    module = httpclient if protocol == "http" else grpcclient
    with module.InferenceServerClient(triton.http_url if protocol == "http" else triton.grpc_url) as client:
        answer = client.infer(name, [text_input(module, TEXTS)],
                              outputs=[module.InferRequestedOutput("entities")]).as_numpy("entities")
    assert answer.shape == (len(TEXTS), 1)
    served = [json.loads(item[0]) for item in answer]
    assert_same_entities(served, reference(taggers[kind], strategy, TEXTS))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_predict_gives_real_tokens_with_offsets_and_entities(triton: LocalTriton, taggers: dict[str, Path],
                                                             protocol: str) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    with TextClient(url, protocol) as text_client:
        predictions = text_client.predict(TEXTS, model="ner", batch_size=3)
    expected = reference(taggers["wordpiece"], "simple", TEXTS)
    assert_same_entities([list(p.entities) for p in predictions], expected)
    tokenizer = pipeline("token-classification", model=str(taggers["wordpiece"])).tokenizer
    for prediction in predictions:
        encoded = tokenizer(prediction.text, truncation=True, return_offsets_mapping=True,
                            return_special_tokens_mask=True)
        spans = [tuple(span) for span, special in zip(encoded["offset_mapping"], encoded["special_tokens_mask"])
                 if not special]
        assert prediction.token_offsets == tuple(spans)
        assert len(prediction.token_labels) == len(spans) and prediction.outputs["logits"].shape == (len(spans), 5)
    first = predictions[0]
    assert "".join(first.text[start:end] for start, end in first.token_offsets) == "JohnlivesinParis."
    assert len(first.token_offsets) > 5  # "John", "lives" and "Paris" are split into sub-words


def test_cli_predict_shows_entities(triton: LocalTriton, taggers: dict[str, Path]) -> None:
    runner = CliRunner()
    table = runner.invoke(cli, ["--url", triton.http_url, "predict", "-m", "ner", *TEXTS[:2]])
    assert table.exit_code == 0, table.output
    expected = reference(taggers["wordpiece"], "simple", TEXTS[:2])
    rows = table.output.splitlines()[1:]
    for row, entities in zip(rows, expected, strict=True):
        assert row.endswith("tokens)")
        for entity in entities:
            assert f'{entity["entity_group"]} "{entity["word"]}" {entity["start"]}:{entity["end"]}' in row
    document = runner.invoke(cli, ["--url", triton.http_url, "predict", "-m", "ner", "--json", *TEXTS[:2]])
    assert document.exit_code == 0, document.output
    records = json.loads(document.output)
    assert_same_entities([record["entities"] for record in records], expected)
    assert records[0]["token_offsets"][0] == [0, 1] and len(records[0]["token_labels"]) == 16


def test_bad_text_gets_one_error_and_the_server_stays_healthy(triton: LocalTriton) -> None:
    with httpclient.InferenceServerClient(triton.http_url) as client:
        tensor = httpclient.InferInput("TEXT", [2, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[b"fine"], [b"caf\xe9"]], dtype=object))
        with pytest.raises(Exception, match="TEXT item 1 is not valid UTF-8"):
            client.infer("ner", [tensor])
        assert client.is_server_live() and client.is_model_ready("ner")
        assert client.infer("ner", [text_input(httpclient, ["fine"])]).as_numpy("entities").shape == (1, 1)
