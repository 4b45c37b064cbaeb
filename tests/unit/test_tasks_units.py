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
from export.python_models import entities_model, sparse_tokens_model, vectors_model, zero_shot_model
from export.tasks.detection import alternative_tasks, describe_detection, detect_special_task, entailment_id
from export.tasks.rerank import IDENTITY, SIGMOID, activation_path
from export.tasks.sparse import dense_view
from tests.support.docker_image import CONTAINER_PYTHON, imported_outside_fallbacks, requirements
from tests.support.tiny_models import make_cross_encoder
from tritonize.contract import Signature, Task
from tritonize.repo_format import multi_vector, nli_zero_shot
from tritonize.repo_format.files import MULTI_VECTOR_FILENAME, NLI_ZERO_SHOT_FILENAME, TOKENIZER_ENCODING_FILENAME
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
    assert detect_special_task(cross_encoder, ["BertForSequenceClassification"]).task is Task.TEXT_RANKING
    assert activation_path(cross_encoder, 1) == SIGMOID
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    assert detect_special_task(tmp_path, ["BertForSequenceClassification"]) is None
    assert activation_path(tmp_path, 2) == IDENTITY
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "CrossEncoder", "activation_fn": "torch.nn.modules.activation.Softsign"}))
    assert detect_special_task(tmp_path, []).task is Task.TEXT_RANKING
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


@pytest.mark.parametrize("backend", [entities_model, sparse_tokens_model, zero_shot_model, vectors_model,
                                     nli_zero_shot, multi_vector])
def test_step_models_import_only_what_the_triton_image_has(backend: object) -> None:
    """The step models (and the files copied beside them) run in the image's Python with numpy and tokenizers."""
    source = Path(backend.__file__)
    tree = ast.parse(source.read_text(), filename=str(source), feature_version=CONTAINER_PYTHON)
    beside = {Path(name).stem for name in (TOKENIZER_ENCODING_FILENAME, NLI_ZERO_SHOT_FILENAME, MULTI_VECTOR_FILENAME)}
    allowed = set(sys.stdlib_module_names) | set(requirements()) | {"triton_python_backend_utils"} | beside
    assert not imported_outside_fallbacks(tree) - allowed


def test_one_label_heads_follow_what_the_folder_says(tmp_path: Path) -> None:
    classifier = ["LlamaForSequenceClassification"]
    (tmp_path / "config.json").write_text(json.dumps({"num_labels": 1}))
    assert detect_special_task(tmp_path, classifier, decoder=True).task is Task.TEXT_CLASSIFICATION
    assert detect_special_task(tmp_path, classifier, decoder=False).task is Task.TEXT_RANKING
    (tmp_path / "config.json").write_text(json.dumps({"num_labels": 1, "problem_type": "regression"}))
    regression = detect_special_task(tmp_path, classifier)
    assert (regression.task, regression.other) == (Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING)
    (tmp_path / "config.json").write_text(json.dumps({"num_labels": 1, "sentence_transformers": {}}))
    assert detect_special_task(tmp_path, classifier, decoder=True).task is Task.TEXT_RANKING
    nli = {"id2label": {"0": "CONTRADICTION", "1": "NEUTRAL", "2": "ENTAILMENT"}}
    (tmp_path / "config.json").write_text(json.dumps(nli))
    assert detect_special_task(tmp_path, classifier).task is Task.TEXT_RANKING
    assert entailment_id(("contradiction", "neutral", "entailment")) == 2
    assert entailment_id(("negative", "positive")) == -1
    assert describe_detection(regression, Task.TEXT_CLASSIFICATION) == (
        "text-classification, detected from one label with problem_type regression: the raw score; "
        "--task text-ranking scores (query, passage) pairs")
    assert describe_detection(regression, Task.TEXT_RANKING).startswith("text-ranking, chosen by --task")
    assert describe_detection(None, Task.FEATURE_EXTRACTION) == ""


def test_zero_shot_arithmetic_follows_the_pipeline() -> None:
    from client.text_zero_shot import parse_labels

    assert nli_zero_shot.hypotheses(["a", "b c"], "It is {}.") == ["It is a.", "It is b c."]
    for labels, template, message in (([], "{}", "is empty"), (["a"], "none", "has no {}"),
                                      (["a"], "{x}", "does not format")):
        with pytest.raises(nli_zero_shot.ZeroShotError, match=message):
            nli_zero_shot.hypotheses(labels, template)
    logits = np.array([[1.0, 0.5, 2.0], [0.0, 3.0, -1.0], [2.0, 0.0, 0.5]])
    across = np.exp(logits[:, 2]) / np.exp(logits[:, 2]).sum()
    np.testing.assert_allclose(nli_zero_shot.scores(logits, 2, multi_label=False), across)
    pair = np.exp(logits[:, [0, 2]])
    np.testing.assert_allclose(nli_zero_shot.scores(logits, 2, multi_label=True), pair[:, 1] / pair.sum(axis=1))
    one_label = nli_zero_shot.scores(logits[:1], 2, multi_label=False)
    np.testing.assert_allclose(one_label, (pair[:, 1] / pair.sum(axis=1))[:1])
    first = np.exp(logits[:, [2, 0]])  # entailment is class 0: contradiction is the last class
    np.testing.assert_allclose(nli_zero_shot.scores(logits, 0, multi_label=True), first[:, 1] / first.sum(axis=1))
    labels, ranked = nli_zero_shot.ranked(["x", "y", "z"], np.array([0.2, 0.5, 0.3]))
    assert labels == ["y", "z", "x"] and list(ranked) == [0.5, 0.3, 0.2]
    assert parse_labels(" a, b ,,c ") == ["a", "b", "c"]


def test_extractive_qa_refusal_says_transformers_5_removed_its_pipeline() -> None:
    from export.architectures import refusal

    reason = refusal({"model_type": "bert"}, "BertForQuestionAnswering")
    assert "(extractive question answering): tritonize does not export it yet" in reason
    assert "transformers 5 removed its question-answering pipeline (it points to text generation)" in reason


def test_multi_vector_keeps_packs_and_scores() -> None:
    from client.multi_vector import side

    ids, mask = np.array([2, 9, 60, 5, 3, 4, 4]), np.array([1, 1, 1, 1, 1, 0, 0])
    assert multi_vector.kept_positions(ids, mask, multi_vector.KEEP_ALL).all()
    kept = multi_vector.kept_positions(ids, mask, multi_vector.KEEP_ATTENDED, frozenset({60}))
    assert kept.tolist() == [True, True, False, True, True, False, False]
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    item = multi_vector.pack(vectors)
    assert len(item) == 4 * 3 * 4
    np.testing.assert_array_equal(multi_vector.unpack(item, 4), vectors)
    assert multi_vector.unpack(b"", 0).size == 0
    query, document = np.eye(2, dtype=np.float32), np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert multi_vector.max_sim(query, document) == pytest.approx(1.0 + 0.8)
    assert multi_vector.max_sim(query, document[:0]) == 0.0
    assert (side("colbert", True), side("colbert_query", False), side("colbert", False)) == \
        ("colbert_query", "colbert", "colbert")


def test_colbert_settings_follow_pylate_and_refuse_what_is_not_exported(tmp_path: Path) -> None:
    from export.tasks.colbert import is_colbert_folder, read_colbert

    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    config = {"model_type": "ColBERT", "query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 32,
              "document_length": 300, "do_query_expansion": True, "attend_to_expansion_tokens": False}
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(config))
    settings = read_colbert(tmp_path)
    assert is_colbert_folder(tmp_path) and detect_special_task(tmp_path, ["BertModel"]).task is Task.MULTI_VECTOR
    assert (settings.document_length, settings.dense_paths, "," in settings.skiplist_words) == (300, ("1_Dense",), True)
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({**config,
                                                                           "attend_to_expansion_tokens": True}))
    with pytest.raises(UnsupportedModelError, match="attend to their expansion tokens"):
        read_colbert(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([*modules, {"path": "2_Normalize", "type": "x.Normalize"}]))
    with pytest.raises(UnsupportedModelError, match="Unsupported ColBERT modules: Transformer, Dense, Normalize"):
        read_colbert(tmp_path)
    for name in ("colbert_linear.pt", "sparse_linear.pt"):
        (tmp_path / name).write_bytes(b"")
    assert detect_special_task(tmp_path, ["XLMRobertaModel"]).task is Task.MULTI_VECTOR  # BGE-M3's heads first


def test_multi_vector_load_check_lays_out_both_sides_by_kept_positions() -> None:
    from export.tasks.multi_vector_check import expected_view, requested, served_view
    from tritonize.contract import TensorSpec

    signature = Signature(Task.MULTI_VECTOR, (TensorSpec("input_ids", 8, (-1,)),),
                          (TensorSpec(multi_vector.TOKEN_VECTORS, 11, (-1, 2)),))
    batch = {"input_ids": np.array([[2, 7, 60, 3]]), "attention_mask": np.array([[1, 1, 1, 0]])}
    rule = (multi_vector.KEEP_ATTENDED, frozenset({60}))
    vectors = np.arange(8, dtype=np.float32).reshape(1, 4, 2)
    expected = expected_view(signature, batch, [vectors], rule)[0]
    assert expected.tolist() == [[[0, 1], [2, 3], [0, 0], [0, 0]]]
    assert requested(signature) == ["vectors", "token_counts"]
    packed = np.array([[multi_vector.pack(vectors[0][:2])]], dtype=object)
    np.testing.assert_array_equal(served_view(signature, batch, [packed, np.array([[2]])], rule)[0], expected)
    wrong = served_view(signature, batch, [np.array([[multi_vector.pack(vectors[0][:3])]], dtype=object),
                                           np.array([[3]])], rule)[0]
    assert np.isnan(wrong).all()
