"""The gateway's pure logic: model classification, input checks, Matryoshka cuts, base64, keys, error shapes."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from gateway.auth import check_bearer
from gateway.catalog import EMBEDDING_TASK, RERANK_TASK, build_catalog, split_alias
from gateway.errors import BadRequest, Unauthorized, Unavailable, UpstreamError
from gateway.inputs import check_dimensions, embedding_texts, rerank_documents, top_results
from gateway.schema import RerankDocument
from gateway.settings import read_api_keys
from gateway.triton import chunks, gateway_error
from gateway.vectors import from_base64, to_base64, truncate


def _strings(*names: str, optional: tuple[str, ...] = ()) -> list[mc.ModelInput]:
    return [mc.ModelInput(name=n, data_type=mc.TYPE_STRING, dims=[1], optional=n in optional) for n in names]


def _ensemble(name: str, inputs: list[mc.ModelInput], outputs: dict[str, list[int]], tokenizer: str) -> mc.ModelConfig:
    step = mc.ModelEnsembling.Step(model_name=tokenizer, model_version=-1,
                                   input_map={i.name: i.name for i in inputs},
                                   output_map={"attention_mask": "attention_mask"})
    return mc.ModelConfig(name=name, platform="ensemble", max_batch_size=16, input=inputs,
                          output=[mc.ModelOutput(name=k, data_type=mc.TYPE_FP32, dims=v) for k, v in outputs.items()],
                          ensemble_scheduling=mc.ModelEnsembling(step=[step]))


def _tokenizer(name: str, inputs: list[mc.ModelInput], prompts: str = "") -> mc.ModelConfig:
    parameters = {"max_length": "64", "pad_to_multiple_of": "8", "pad_token_id": "0"}
    if prompts:
        parameters |= {"prompts": prompts, "default_prompt_name": "document"}
    return mc.ModelConfig(name=name, backend="python", max_batch_size=32, input=inputs,
                          output=[mc.ModelOutput(name="attention_mask", data_type=mc.TYPE_INT64, dims=[-1])],
                          parameters={k: mc.ModelParameter(string_value=v) for k, v in parameters.items()})


def test_catalog_classifies_embedders_rerankers_and_the_rest() -> None:
    prompted = _strings("TEXT", "PROMPT_NAME", optional=("PROMPT_NAME",))
    configs = {
        "emb": _ensemble("emb", _strings("TEXT"), {"embeddings": [32]}, "emb_tokenizer"),
        "emb_tokenizer": _tokenizer("emb_tokenizer", _strings("TEXT")),
        "pr": _ensemble("pr", prompted, {"embeddings": [8]}, "pr_tokenizer"),
        "pr_tokenizer": _tokenizer("pr_tokenizer", prompted, '{"document": "", "query": "q: "}'),
        "rr": _ensemble("rr", _strings("QUERY", "PASSAGE"), {"scores": [1]}, "rr_tokenizer"),
        "nli": _ensemble("nli", _strings("QUERY", "PASSAGE"), {"logits": [3], "scores": [3]}, "nli_tokenizer"),
        "cls": _ensemble("cls", _strings("TEXT"), {"logits": [3], "probabilities": [3]}, "cls_tokenizer"),
        "emb_onnx": mc.ModelConfig(name="emb_onnx", platform="onnxruntime_onnx", max_batch_size=16),
    }
    catalog = build_catalog(configs)
    assert set(catalog) == {"emb", "pr", "rr", "nli", "cls"}
    emb, pr, rr = catalog["emb"], catalog["pr"], catalog["rr"]
    assert (emb.task, emb.dimensions, emb.max_batch_size, emb.prompts) == (EMBEDDING_TASK, 32, 16, ())
    assert emb.tokenizer is not None and emb.tokenizer.model == "emb_tokenizer" and emb.tokenizer.max_batch_size == 32
    assert pr.prompts == ("document", "query") and pr.default_prompt == "document" and pr.takes_prompt
    assert pr.tokenizer is not None and pr.tokenizer.text_input == "TEXT"
    assert rr.task == RERANK_TASK
    assert catalog["nli"].task == "pair-classification" and catalog["cls"].task == "text-classification"
    assert catalog["pr"].to_record()["prompts"] == ["document", "query"]
    assert catalog["emb"].to_record() == {"id": "emb", "object": "model", "created": 0, "owned_by": "tritonize",
                                          "task": EMBEDDING_TASK, "max_batch_size": 16, "dimensions": 32}


def test_a_step_not_ready_leaves_the_model_without_a_token_counter() -> None:
    catalog = build_catalog({"emb": _ensemble("emb", _strings("TEXT"), {"embeddings": [32]}, "gone")})
    assert catalog["emb"].task == EMBEDDING_TASK and catalog["emb"].tokenizer is None


@pytest.mark.parametrize(("model", "expected"), [("e5", ("e5", None)), ("e5:query", ("e5", "query")),
                                                 ("e5:", ("e5:", None))])
def test_alias_names_the_prompt(model: str, expected: tuple) -> None:
    assert split_alias(model) == expected


def test_embedding_texts_accepts_a_string_or_strings() -> None:
    assert embedding_texts("hi", 4, 100) == ["hi"]
    assert embedding_texts(["a", "b"], 4, 100) == ["a", "b"]


@pytest.mark.parametrize(("value", "fragment"), [
    ([1, 2, 3], "Token-id arrays"), ([[1, 2]], "Token-id arrays"), ([], "is empty"), ("", "input[0]' is empty"),
    (["ok", "  "], "input[1]' is empty"), (["a"] * 5, "at most 4"), ("x" * 101, "at most 100 are accepted"),
])
def test_embedding_texts_refuses_with_a_400(value: object, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment.replace("[", r"\[")) as caught:
        embedding_texts(value, 4, 100)
    assert caught.value.status == 400 and caught.value.param == "input"


def test_rerank_documents_take_strings_and_text_objects() -> None:
    assert rerank_documents(["a", RerankDocument(text="b")], 3, 10) == ["a", "b"]
    with pytest.raises(BadRequest, match="at most 3"):
        rerank_documents(["a"] * 4, 3, 10)


def test_dimensions_between_one_and_the_width() -> None:
    assert check_dimensions(None, 32, "m") == 32
    assert check_dimensions(8, 32, "m") == 8
    with pytest.raises(BadRequest, match="between 1 and 32") as caught:
        check_dimensions(33, 32, "m")
    assert caught.value.param == "dimensions"


def test_truncate_renormalises_unit_vectors_only() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(3, 16)).astype(np.float32)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    cut = truncate(unit, 4)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(cut, unit[:, :4] / np.linalg.norm(unit[:, :4], axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(truncate(raw, 4), raw[:, :4])  # a model that does not normalise: only cut
    assert truncate(unit, 16) is not None and truncate(unit, 16).shape == (3, 16)


def test_base64_round_trips_float32_as_the_openai_sdk_decodes_it() -> None:
    vector = np.array([0.1, -2.5, 3e-8, 1.0], dtype=np.float32)
    encoded = to_base64(vector)
    np.testing.assert_array_equal(from_base64(encoded), vector)
    import base64
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(encoded), dtype="float32"), vector)


def test_top_results_best_first_ties_in_input_order() -> None:
    assert top_results([0.1, 0.9, 0.5, 0.9], None) == [1, 3, 2, 0]
    assert top_results([0.1, 0.9, 0.5], 2) == [1, 2]


def test_chunks_of_the_batch_size() -> None:
    assert chunks(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert chunks(3, 64) == [slice(0, 3)]


def test_bearer_keys() -> None:
    check_bearer(None, ())  # no keys: open
    check_bearer("Bearer k2", ("k1", "k2"))
    check_bearer("bearer k1", ("k1",))
    for header in (None, "k1", "Basic k1", "Bearer nope"):
        with pytest.raises(Unauthorized):
            check_bearer(header, ("k1",))


def test_keys_from_env_value_and_file(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("k3\n# a comment\n\nk1  # old\n")
    assert read_api_keys("k1, k2,,", keys) == ("k1", "k2", "k3")
    assert read_api_keys("", None) == ()


def test_triton_status_decides_the_http_status() -> None:
    unavailable = gateway_error(InferenceServerException("Exceeds maximum queue size", status="StatusCode.UNAVAILABLE"))
    assert isinstance(unavailable, Unavailable) and unavailable.status == 503
    assert gateway_error(InferenceServerException("bad", status="StatusCode.INVALID_ARGUMENT")).status == 400
    assert isinstance(gateway_error(InferenceServerException("boom", status="StatusCode.INTERNAL")), UpstreamError)
    body = unavailable.body()
    assert body == {"error": {"message": "Triton: Exceeds maximum queue size", "type": "server_error", "param": None,
                              "code": "service_unavailable"}}
