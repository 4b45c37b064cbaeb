"""Pure parts of reranking, entities and sparse embeddings: pair tokenization, detection, ranking, densifying."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from client.errors import InputError, UnsupportedModel
from client.rerank import pair_inputs, rank
from client.results import Label
from export.errors import UnsupportedModelError
from export.python_models import entities_model, sparse_tokens_model
from export.tasks.detection import alternative_tasks, detect_special_task
from export.tasks.rerank import IDENTITY, SIGMOID, activation_path
from export.tasks.sparse import dense_view
from tests.support.docker_image import CONTAINER_PYTHON, imported_outside_fallbacks, requirements
from tests.support.tiny_models import make_cross_encoder
from tritonize.contract import Signature, Task
from tritonize.repo_format.files import TOKENIZER_ENCODING_FILENAME
from tritonize.repo_format.tokenizer_encoding import TextEncoder, TextError, decode_pairs


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cross_encoder(tmp_path_factory.mktemp("ce"))


def test_pairs_are_tokenized_as_transformers_tokenizes_pairs(cross_encoder: Path) -> None:
    reference = AutoTokenizer.from_pretrained(str(cross_encoder))
    encoder = TextEncoder(Tokenizer.from_file(str(cross_encoder / "tokenizer.json")),
                          ["input_ids", "attention_mask", "token_type_ids"], 16, 8, 0)
    queries, passages = ["hello world", "the quick brown fox jumps over the lazy dog"], ["a", "two days " * 9]
    arrays = encoder.encode_pairs(queries, passages)
    expected = reference(queries, passages, truncation="longest_first", max_length=16, padding="max_length")
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], np.asarray(expected[name]))


def test_spans_mark_special_tokens_and_padding(cross_encoder: Path) -> None:
    encoder = TextEncoder(Tokenizer.from_file(str(cross_encoder / "tokenizer.json")),
                          ["input_ids", "offsets", "special_tokens_mask"], 64, 8, 0)
    arrays = encoder.encode(["Hello world", "fox"])
    assert arrays["offsets"].shape == (2, 8, 2)
    assert arrays["special_tokens_mask"][1].tolist() == [1, 0, 1, 1, 1, 1, 1, 1]
    assert arrays["offsets"][0][1:3].tolist() == [[0, 5], [6, 11]]


def test_decode_pairs_refuses_bad_pairs() -> None:
    good = np.array([[b"q"], [b"r"]], dtype=object)
    assert decode_pairs(good, good) == [("q", "q"), ("r", "r")]
    with pytest.raises(TextError, match="QUERY has 2 items but PASSAGE has 1"):
        decode_pairs(good, good[:1])
    with pytest.raises(TextError, match="PASSAGE item 1 is empty"):
        decode_pairs(good, np.array([[b"x"], [b"  "]], dtype=object))
    with pytest.raises(TextError, match="QUERY item 0 is not valid UTF-8"):
        decode_pairs(np.array([[b"\xc3"]], dtype=object), good[:1])


def test_detection_of_rerankers_and_activation(tmp_path: Path, cross_encoder: Path) -> None:
    assert detect_special_task(cross_encoder, ["BertForSequenceClassification"]) is Task.TEXT_RANKING
    assert activation_path(cross_encoder, 1) == SIGMOID
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    assert detect_special_task(tmp_path, ["BertForSequenceClassification"]) is None
    assert activation_path(tmp_path, 2) == IDENTITY
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "CrossEncoder", "activation_fn": "torch.nn.modules.activation.Softsign"}))
    assert detect_special_task(tmp_path, []) is Task.TEXT_RANKING
    with pytest.raises(UnsupportedModelError, match="Unsupported cross-encoder activation"):
        activation_path(tmp_path, 1)
    assert alternative_tasks(["BertForMaskedLM"], None) == {Task.SPARSE_EMBEDDING}
    assert alternative_tasks([], Task.TEXT_CLASSIFICATION) == {Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING}


def test_rank_sorts_and_checks_labels() -> None:
    ranked = rank(["a", "b", "c"], [(0.2, ()), (0.9, ()), (0.2, ())], None, None)
    assert [(r.index, r.score) for r in ranked] == [(1, 0.9), (0, 0.2), (2, 0.2)]
    assert [r.index for r in rank(["a", "b", "c"], [(0.2, ()), (0.9, ()), (0.2, ())], None, 1)] == [1]
    labels = (Label("entailment", 0.7, 1), Label("contradiction", 0.3, 0))
    assert rank(["a"], [(0.7, labels)], "contradiction", None)[0].score == 0.3
    with pytest.raises(UnsupportedModel, match="choose the one to rank by with --label"):
        rank(["a"], [(0.7, labels)], None, None)
    with pytest.raises(InputError, match="Pair 2 has an empty query"):
        pair_inputs(["q", ""], ["p", "p"])


def test_dense_view_ignores_the_order_of_equal_weights() -> None:
    signature = Signature.build(Task.SPARSE_EMBEDDING, ["input_ids"], 8, 0, 3)
    view, densify = dense_view(signature, 5)
    assert view.output_names == ["sparse_embedding"]
    one = densify([np.array([[2, 4, -1]]), np.array([[0.5, 0.5, 0.0]], dtype=np.float32)])[0]
    other = densify([np.array([[4.0, 2.0, -1.0]]), np.array([[0.5, 0.5, 0.0]], dtype=np.float32)])[0]
    np.testing.assert_array_equal(one, other)
    assert one.tolist() == [[0, 0, 0.5, 0, 0.5]]


@pytest.mark.parametrize("backend", [entities_model, sparse_tokens_model])
def test_step_models_import_only_what_the_triton_image_has(backend: object) -> None:
    """The entities and vocabulary models run in the image's Python 3.10 with numpy and tokenizers only."""
    source = Path(backend.__file__)
    tree = ast.parse(source.read_text(), filename=str(source), feature_version=CONTAINER_PYTHON)
    allowed = set(sys.stdlib_module_names) | set(requirements()) | {"triton_python_backend_utils",
                                                                      Path(TOKENIZER_ENCODING_FILENAME).stem}
    assert not imported_outside_fallbacks(tree) - allowed
