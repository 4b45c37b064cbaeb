"""The gateway in front of the real local Triton, called with the real SDKs: OpenAI, LangChain, Cohere.

Vectors equal the ensemble's own answers and ``SentenceTransformer.encode``; rerank scores equal
``CrossEncoder.predict``; usage counts the model's tokenizer; every error answers in OpenAI's error shape.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cohere
import httpx
import numpy as np
import openai
import pytest
import tritonclient.grpc as grpcclient
from langchain_openai import OpenAIEmbeddings
from sentence_transformers import CrossEncoder, SentenceTransformer

from export.settings import DEFAULT_BATCHING, QueuePolicy
from gateway.process import GatewayProcess
from gateway.settings import API_KEYS_ENV
from server.local import LocalTriton
from server.ports import free_ports
from tests.support.exports import export_into
from tests.support.server import children
from tests.support.tiny_families import FAMILIES, make_family
from tests.support.tiny_models import make_bert, make_cross_encoder
from tritonize.processes import wait_exited

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

TEXTS = ["the battery lasts two days", "hello", "screen is sharp but the speaker is far too quiet",
         "the quick brown fox jumps over the lazy dog", "customer review: five stars"]
QUERY = "what does triton serve"
DOCUMENTS = ["triton serves many models at once on one gpu", "the quick brown fox", "hello",
             "customer review: the battery lasts two days, the screen is sharp but the speaker far too quiet"]
PROMPTED = next(f for f in FAMILIES if f.name == "mistral")  # prompts: query ("query: ", the default) and passage


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gateway-models")
    for kind in ("emb", "rr", "pr"):
        (root / kind).mkdir()
    return {"emb": make_bert(root / "emb", sentence_transformers=True, pooling="mean"),
            "rr": make_cross_encoder(root / "rr"), "pr": make_family(root / "pr", PROMPTED)}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, folders: dict[str, Path]) -> Path:
    repository = tmp_path_factory.mktemp("gateway-repo") / "model_repository"
    # Batches of at most 4: a request of 5+ texts goes to Triton in concurrent sub-requests. A long queue timeout:
    # the shared test machine may be busy (the default 1 s refusal is the gateway's 503, tested apart).
    small = replace(DEFAULT_BATCHING["cpu"], max_batch_size=4)
    patient = QueuePolicy(timeout_ms=60_000)
    export_into(repository, str(folders["emb"]), "emb", formats=("onnx",), batching=small, queue=patient)
    # The reranker and pr1 take the CPU default: one model that tokenizes and runs ONNX Runtime (one step).
    export_into(repository, str(folders["rr"]), "rr", formats=("onnx",), queue=patient, serving=None)
    export_into(repository, str(folders["pr"]), "pr", formats=("onnx",), queue=patient)
    export_into(repository, str(folders["pr"]), "pr1", formats=("onnx",), queue=patient, serving=None)
    # One waiting request at most: a request of many texts overflows the queue, Triton refuses (UNAVAILABLE).
    export_into(repository, str(folders["emb"]), "strict", formats=("onnx",), batching=small,
                queue=QueuePolicy(max_queue_size=1, timeout_ms=60_000))
    return repository


@pytest.fixture(scope="module")
def triton(repository: Path):
    with LocalTriton(repository, ready_timeout=180) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(triton: LocalTriton, repository: Path):
    with GatewayProcess(triton.grpc_url, free_ports(1)[0], repository=repository) as process:
        yield process.url


@pytest.fixture(scope="module")
def keyed(triton: LocalTriton, tmp_path_factory: pytest.TempPathFactory):
    """A second gateway with API keys (one from the environment, one from a file) and no repository: its usage
    tokens are counted by the tokenizer steps through Triton."""
    key_file = tmp_path_factory.mktemp("keys") / "keys"
    key_file.write_text("file-key\n")
    with GatewayProcess(triton.grpc_url, free_ports(1)[0], extra_args=["--api-key-file", str(key_file)],
                        env={API_KEYS_ENV: "env-key"}) as process:
        yield process.url


@pytest.fixture(scope="module")
def sdk(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0)


def direct(triton: LocalTriton, model: str, texts: list[str], prompt: str | None = None) -> np.ndarray:
    """The ensemble's own answer over gRPC."""
    with grpcclient.InferenceServerClient(triton.grpc_url) as client:
        parts = []
        for start in range(0, len(texts), 4):
            chunk = texts[start:start + 4]
            tensors = [grpcclient.InferInput("TEXT", [len(chunk), 1], "BYTES")]
            tensors[0].set_data_from_numpy(np.array([[t.encode()] for t in chunk], dtype=object))
            if prompt is not None:
                tensors.append(grpcclient.InferInput("PROMPT_NAME", [len(chunk), 1], "BYTES"))
                tensors[1].set_data_from_numpy(np.array([[prompt.encode()]] * len(chunk), dtype=object))
            parts.append(client.infer(model, tensors).as_numpy("embeddings"))
    return np.concatenate(parts)


def vectors(response: object) -> np.ndarray:
    """The response's vectors; base64 ones decoded as OpenAI documents (the SDK decodes only when it chose base64)."""
    rows = [np.frombuffer(base64.b64decode(item.embedding), dtype="float32") if isinstance(item.embedding, str)
            else item.embedding for item in response.data]
    return np.array(rows, dtype=np.float32)


def tokens(folder: Path, texts: list[str], prompt: str = "") -> int:
    model = SentenceTransformer(str(folder), device="cpu")
    return int(model.tokenize([prompt + t for t in texts])["attention_mask"].sum())


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_openai_sdk_embeddings_equal_the_ensemble_and_sentence_transformers(
        sdk: openai.OpenAI, triton: LocalTriton, folders: dict[str, Path], encoding_format: str) -> None:
    many = TEXTS * 3  # 15 texts: four concurrent sub-requests of at most 4
    response = sdk.embeddings.create(model="emb", input=many, encoding_format=encoding_format)
    got = vectors(response)
    assert [item.index for item in response.data] == list(range(len(many)))
    # Equal up to float noise: Triton's dynamic batcher may merge the concurrent sub-requests differently (other
    # padded lengths) from the direct calls.
    np.testing.assert_allclose(got, direct(triton, "emb", many), atol=1e-6, rtol=0)
    reference = SentenceTransformer(str(folders["emb"]), device="cpu").encode(many)
    np.testing.assert_allclose(got, reference, atol=1e-4)
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens(folders["emb"], many)
    one = sdk.embeddings.create(model="emb", input=TEXTS[0], encoding_format=encoding_format)
    assert len(one.data) == 1 and one.model == "emb"
    np.testing.assert_allclose(vectors(one)[0], got[0], atol=1e-6, rtol=0)


def test_sdk_default_base64_and_dimensions_cut_and_renormalise(sdk: openai.OpenAI, folders: dict[str, Path]) -> None:
    response = sdk.embeddings.create(model="emb", input=TEXTS, dimensions=8)  # the SDK asks for base64 itself
    got = vectors(response)
    assert got.shape == (len(TEXTS), 8)
    model = SentenceTransformer(str(folders["emb"]), device="cpu", truncate_dim=8)
    np.testing.assert_allclose(got, model.encode(TEXTS, normalize_embeddings=True), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_prompt_by_alias_or_extension_field(sdk: openai.OpenAI, triton: LocalTriton, folders: dict[str, Path]) -> None:
    reference = SentenceTransformer(str(folders["pr"]), device="cpu")
    alias = vectors(sdk.embeddings.create(model="pr:passage", input=TEXTS, encoding_format="float"))
    field = vectors(sdk.embeddings.create(model="pr", input=TEXTS, extra_body={"prompt_name": "passage"}))
    default = sdk.embeddings.create(model="pr", input=TEXTS)
    np.testing.assert_allclose(alias, direct(triton, "pr", TEXTS, "passage"), atol=1e-6, rtol=0)
    np.testing.assert_allclose(field, alias, atol=1e-6, rtol=0)
    np.testing.assert_allclose(alias, reference.encode(TEXTS, prompt_name="passage"), atol=1e-4)
    np.testing.assert_allclose(vectors(default), reference.encode(TEXTS), atol=1e-4)  # the folder's default prompt
    assert default.usage.prompt_tokens == tokens(folders["pr"], TEXTS, PROMPTED.prompts["query"])
    with pytest.raises(openai.BadRequestError, match="has no prompt 'nope'"):
        sdk.embeddings.create(model="pr:nope", input=TEXTS)


def test_langchain_openai_embeddings(gateway: str, triton: LocalTriton) -> None:
    embedder = OpenAIEmbeddings(model="emb", base_url=f"{gateway}/v1", api_key="unused",
                                check_embedding_ctx_length=False)
    documents = embedder.embed_documents(TEXTS)
    np.testing.assert_allclose(np.array(documents), direct(triton, "emb", TEXTS), atol=1e-6)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[1]), documents[1], atol=1e-6)


def test_cohere_sdk_rerank_equals_cross_encoder(gateway: str, folders: dict[str, Path]) -> None:
    client = cohere.ClientV2(api_key="unused", base_url=gateway)
    response = client.rerank(model="rr", query=QUERY, documents=DOCUMENTS, top_n=3)
    expected = CrossEncoder(str(folders["rr"])).predict([(QUERY, d) for d in DOCUMENTS])
    order = list(np.argsort(-expected, kind="stable")[:3])
    assert [r.index for r in response.results] == order
    np.testing.assert_allclose([r.relevance_score for r in response.results], expected[order], atol=1e-5)


def test_jina_and_tei_rerank_shapes(gateway: str, folders: dict[str, Path]) -> None:
    expected = CrossEncoder(str(folders["rr"])).predict([(QUERY, d) for d in DOCUMENTS])
    jina = httpx.post(f"{gateway}/v1/rerank", json={"model": "rr", "query": QUERY, "return_documents": True,
                                                    "documents": [{"text": d} for d in DOCUMENTS]}).json()
    assert [r["document"]["text"] for r in jina["results"]] == [DOCUMENTS[r["index"]] for r in jina["results"]]
    assert sorted(r["index"] for r in jina["results"]) == list(range(len(DOCUMENTS)))
    tei = httpx.post(f"{gateway}/rerank", json={"query": QUERY, "texts": DOCUMENTS, "return_text": True}).json()
    assert [r["index"] for r in tei] == [r["index"] for r in jina["results"]]
    np.testing.assert_allclose([r["score"] for r in tei], expected[[r["index"] for r in tei]], atol=1e-5)


def test_models_list_their_task(sdk: openai.OpenAI) -> None:
    models = {m.id: m for m in sdk.models.list()}
    assert set(models) == {"emb", "rr", "pr", "strict", "pr1"}
    assert models["pr1"].task == "text-embedding" and models["pr1"].dimensions == models["pr"].dimensions
    assert models["pr1"].prompts == models["pr"].prompts and models["pr1"].default_prompt == "query"
    assert models["emb"].task == "text-embedding" and models["emb"].dimensions == 32
    assert models["rr"].task == "text-ranking"
    assert {"passage", "query"} <= set(models["pr"].prompts) and models["pr"].default_prompt == "query"
    assert sdk.models.retrieve("pr:query").id == "pr"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("nope")


def test_a_one_step_model_serves_as_its_ensemble(sdk: openai.OpenAI) -> None:
    for alias in ("pr", "pr:passage"):
        one_step = sdk.embeddings.create(model=alias.replace("pr", "pr1", 1), input=TEXTS, encoding_format="float")
        ensemble = sdk.embeddings.create(model=alias, input=TEXTS, encoding_format="float")
        np.testing.assert_allclose(vectors(one_step), vectors(ensemble), atol=1e-6)
        assert one_step.usage.prompt_tokens == ensemble.usage.prompt_tokens > 0  # counted with its tokenizer files


def assert_error(response: httpx.Response, status: int, fragment: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"], error
    if param is not None:
        assert error["param"] == param
    assert "Traceback" not in response.text


@pytest.mark.parametrize(("body", "status", "fragment", "param"), [
    ({"model": "nope", "input": "hi"}, 404, "'nope' does not exist", "model"),
    ({"model": "rr", "input": "hi"}, 400, "serves text-ranking", "model"),
    ({"model": "emb", "input": ""}, 400, "is empty", "input"),
    ({"model": "emb", "input": []}, 400, "is empty", "input"),
    ({"model": "emb", "input": ["ok", " "]}, 400, "input[1]' is empty", "input"),
    ({"model": "emb", "input": ["x"] * 2049}, 400, "at most 2048", "input"),
    ({"model": "emb", "input": [[1, 2, 3]]}, 400, "Token-id arrays", "input"),
    ({"model": "emb", "input": 5}, 400, "input", "input"),
    ({"model": "emb"}, 400, "Field required", "input"),
    ({"model": "emb", "input": "hi", "encoding_format": "int8"}, 400, "encoding_format", "encoding_format"),
    ({"model": "emb", "input": "hi", "dimensions": 33}, 400, "between 1 and 32", "dimensions"),
    ({"model": "emb", "input": "hi", "dimensions": 0}, 400, "dimensions", "dimensions"),
])
def test_embedding_errors_in_the_openai_shape(gateway: str, body: dict, status: int, fragment: str,
                                              param: str) -> None:
    assert_error(httpx.post(f"{gateway}/v1/embeddings", json=body), status, fragment, param)


def test_other_errors_in_the_openai_shape(gateway: str) -> None:
    assert_error(httpx.post(f"{gateway}/v1/embeddings", content=b"{not json",
                            headers={"content-type": "application/json"}), 400, "JSON")
    assert_error(httpx.post(f"{gateway}/v1/rerank", json={"model": "rr", "query": " ", "documents": ["a"]}), 400,
                 "'query' is empty", "query")
    assert_error(httpx.post(f"{gateway}/v1/rerank", json={"model": "emb", "query": "q", "documents": ["a"]}), 400,
                 "serves text-embedding", "model")
    assert_error(httpx.get(f"{gateway}/v1/nothing"), 404, "Not Found")


def test_api_keys_from_env_and_file_and_usage_counted_by_the_tokenizer_step(
        keyed: str, folders: dict[str, Path], triton: LocalTriton) -> None:
    for key in ("env-key", "file-key"):
        client = openai.OpenAI(base_url=f"{keyed}/v1", api_key=key, max_retries=0)
        response = client.embeddings.create(model="emb", input=TEXTS)
        assert response.usage.prompt_tokens == tokens(folders["emb"], TEXTS)
    prompted = openai.OpenAI(base_url=f"{keyed}/v1", api_key="env-key", max_retries=0).embeddings.create(
        model="pr:passage", input=TEXTS)
    assert prompted.usage.prompt_tokens == tokens(folders["pr"], TEXTS, PROMPTED.prompts["passage"])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed}/v1", api_key="wrong", max_retries=0).embeddings.create(model="emb",
                                                                                               input="hi")
    assert_error(httpx.post(f"{keyed}/v1/embeddings", json={"model": "emb", "input": "hi"}), 401, "Missing API key")
    assert httpx.get(f"{keyed}/health").status_code == 200  # probes need no key


def test_a_one_step_model_counts_usage_in_the_embeddings_call_without_a_repository(
        keyed: str, folders: dict[str, Path], triton: LocalTriton) -> None:
    """The Helm sidecar's case: no repository to read, no tokenizer step to ask; the model returns token_count."""
    client = openai.OpenAI(base_url=f"{keyed}/v1", api_key="env-key", max_retries=0)
    with grpcclient.InferenceServerClient(triton.grpc_url) as direct_client:
        batch = direct_client.get_model_config("pr1").config.max_batch_size
        texts = TEXTS * (batch // len(TEXTS) + 1) + ["word " * 200]  # two sub-requests; one text truncated
        calls = -(-len(texts) // batch)

        def served() -> int:
            return direct_client.get_inference_statistics("pr1").model_stats[0].inference_stats.success.count

        for alias, prompt in (("pr1", "query"), ("pr1:passage", "passage")):  # query: the default prompt
            before = served()
            response = client.embeddings.create(model=alias, input=texts, encoding_format="float")
            assert response.usage.prompt_tokens == response.usage.total_tokens == \
                tokens(folders["pr"], texts, PROMPTED.prompts[prompt])
            assert served() - before == calls  # counted in the embeddings calls themselves: no extra Triton call
            ensemble = client.embeddings.create(model=alias.replace("pr1", "pr", 1), input=texts,
                                                encoding_format="float")
            assert ensemble.usage.prompt_tokens == response.usage.prompt_tokens  # the tokenizer step agrees
            np.testing.assert_allclose(vectors(response), vectors(ensemble), atol=1e-6)


def test_health_and_metrics(gateway: str, sdk: openai.OpenAI) -> None:
    health = httpx.get(f"{gateway}/health")
    assert health.status_code == 200 and set(health.json()["models"]) == {"emb", "rr", "pr", "strict", "pr1"}
    sdk.embeddings.create(model="emb", input=TEXTS)
    httpx.post(f"{gateway}/v1/embeddings", json={"model": "nope", "input": "hi"})
    metrics = httpx.get(f"{gateway}/metrics").text
    assert 'gateway_requests_total{model="emb",route="/v1/embeddings",status="200"}' in metrics
    assert 'gateway_inputs_total{model="emb",route="/v1/embeddings"}' in metrics
    assert 'gateway_request_duration_seconds_count{model="emb",route="/v1/embeddings"}' in metrics
    assert 'gateway_errors_total{route="/v1/embeddings",status="404"}' in metrics


def test_triton_refusal_is_503(gateway: str) -> None:
    refused = httpx.post(f"{gateway}/v1/embeddings", json={"model": "strict", "input": TEXTS * 20})
    assert_error(refused, 503, "Exceeds maximum queue size")
    assert refused.json()["error"]["type"] == "server_error"
    assert refused.headers["retry-after"] == "1"


def test_triton_down_is_503(tmp_path: Path) -> None:
    closed = free_ports(1)[0]
    with GatewayProcess(f"127.0.0.1:{closed}", free_ports(1)[0]) as process:
        assert_error(httpx.post(f"{process.url}/v1/embeddings", json={"model": "emb", "input": "hi"}), 503,
                     "Triton")
        assert_error(httpx.get(f"{process.url}/health"), 503, "not ready")
        assert httpx.get(f"{process.url}/health/live").status_code == 200


def test_python_m_server_starts_the_gateway_beside_triton(repository: Path) -> None:
    http, grpc, metrics, port = free_ports(4)
    process = subprocess.Popen([sys.executable, "-m", "server", "--repository", str(repository), "--http-port",
                                str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
                                "--gateway-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("  Gateway"):
                break
        assert f"Gateway  http://127.0.0.1:{port}/v1" in "".join(banner), "".join(banner)
        gateway_pids = [pid for pid in children(process.pid)
                        if "gateway" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert len(gateway_pids) == 1
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        assert len(client.embeddings.create(model="emb", input=TEXTS).data) == len(TEXTS)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert wait_exited(gateway_pids, 5) == []
