"""Multi-vector models served by the real local Triton: PyLate ColBERT folders equal PyLate's ``encode``, BGE-M3
folders equal FlagEmbedding's ``BGEM3FlagModel.encode`` (dense, lexical weights and ColBERT vectors).

Neither library shares the project's environment (PyLate pins sentence-transformers 5.3 and transformers ≤ 5.3):
the tiny ColBERT folder is made, and the reference outputs computed, by the libraries themselves in the isolated
reference environment (:mod:`tests.support.reference_env`). ColBERT documents drop padding and skip-list punctuation;
queries carry the ``[Q]`` marker and ``[MASK]`` expansion to the query length; one text is longer than the window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner

from client import TextClient
from client.cli import cli
from client.errors import UnsupportedModel
from export.load_model import read_info
from export.pipeline import ExportResult
from export.source import resolve_source
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.reference_env import ReferenceEnvError, run_reference
from tests.support.tiny_models import make_bert, make_bge_m3, make_stanford_colbert
from tritonize.contract import Task
from tritonize.repo_format.multi_vector import unpack

pytestmark = pytest.mark.server

QUERY_LENGTH, DOCUMENT_LENGTH, DIM = 12, 24, 16
TEXTS = ["hello world", "the quick brown fox, jumps over the lazy dog!",
         "customer review: the battery lasts two days; the screen is sharp but the speaker far too quiet.",
         " ".join(["long inputs are truncated to the model maximum length"] * 6)]
QUERY = "what does the battery review say?"

#: Runs in the reference environment: make the PyLate folder, then encode with it and score with MaxSim.
PYLATE_SCRIPT = """
import json, sys
import numpy as np
from pylate import models
from pylate.scores import colbert_scores
given = json.load(open(sys.argv[1]))
made = models.ColBERT(model_name_or_path=given["base"], device="cpu", embedding_size=given["dim"],
                      query_length=given["query_length"], document_length=given["document_length"])
made.save(given["folder"])
model = models.ColBERT(model_name_or_path=given["folder"], device="cpu")
arrays = {}
for kind, is_query in (("query", True), ("document", False)):
    for i, vectors in enumerate(model.encode(given["texts"], is_query=is_query, batch_size=3)):
        arrays[f"{kind}/{i}"] = np.asarray(vectors, dtype=np.float32)
query = model.encode([given["query"]], is_query=True)[0]
documents = model.encode(given["texts"], is_query=False)
import torch
padded = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(d) for d in documents], batch_first=True)
mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(d)) for d in documents], batch_first=True)
arrays["scores"] = colbert_scores(torch.as_tensor(query)[None], padded, documents_mask=mask).numpy()[0]
np.savez(sys.argv[2], **arrays)
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("colbert")
    base = make_bert(root / "bert")
    try:
        reference = run_reference(PYLATE_SCRIPT, {"base": str(base), "folder": str(root / "colbert"), "dim": DIM,
                                                  "query_length": QUERY_LENGTH, "document_length": DOCUMENT_LENGTH,
                                                  "texts": TEXTS, "query": QUERY})
    except ReferenceEnvError as error:
        pytest.skip(str(error))
    return root / "colbert", reference


#: Runs in the reference environment: FlagEmbedding's BGE-M3 outputs, and its ColBERT scores for the query.
M3_SCRIPT = """
import json, sys
import numpy as np
from FlagEmbedding import BGEM3FlagModel
given = json.load(open(sys.argv[1]))
model = BGEM3FlagModel(given["folder"], use_fp16=False, devices="cpu")
found = model.encode(given["texts"], batch_size=3, max_length=given["max_length"], return_dense=True,
                     return_sparse=True, return_colbert_vecs=True)
arrays = {"dense": np.asarray(found["dense_vecs"], dtype=np.float32)}
for i, (weights, vectors) in enumerate(zip(found["lexical_weights"], found["colbert_vecs"])):
    arrays[f"colbert/{i}"] = np.asarray(vectors, dtype=np.float32)
    arrays[f"lexical/{i}"] = np.array(json.dumps({k: float(v) for k, v in weights.items()}))
query = model.encode([given["query"]], max_length=given["max_length"], return_colbert_vecs=True)["colbert_vecs"][0]
arrays["scores"] = np.array([float(model.colbert_score(query, v)) for v in found["colbert_vecs"]])
np.savez(sys.argv[2], **arrays)
"""
M3_TEXTS = [*TEXTS[:3], " ".join(["long inputs are truncated to the model maximum length"] * 12)]


@pytest.fixture(scope="module")
def m3_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("m3")
    folder = make_bge_m3(root)
    try:
        reference = run_reference(M3_SCRIPT, {"folder": str(folder), "texts": M3_TEXTS, "query": QUERY,
                                              "max_length": 64})
    except ReferenceEnvError as error:
        pytest.skip(str(error))
    return folder, reference


#: Runs in the reference environment: PyLate's vectors of a Stanford checkpoint (HF_ColBERT), as it loads them.
STANFORD_SCRIPT = """
import json, sys
import numpy as np
from pylate import models
given = json.load(open(sys.argv[1]))
model = models.ColBERT(model_name_or_path=given["folder"], device="cpu")
arrays = {}
for kind, is_query in (("query", True), ("document", False)):
    for i, vectors in enumerate(model.encode(given["texts"], is_query=is_query, batch_size=3)):
        arrays[f"{kind}/{i}"] = np.asarray(vectors, dtype=np.float32)
np.savez(sys.argv[2], **arrays)
"""


@pytest.fixture(scope="module")
def stanford_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = make_stanford_colbert(tmp_path_factory.mktemp("stanford"), QUERY_LENGTH, DOCUMENT_LENGTH)
    try:
        return folder, run_reference(STANFORD_SCRIPT, {"folder": str(folder), "texts": TEXTS})
    except ReferenceEnvError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def exported(made: tuple, m3_made: tuple, stanford_made: tuple,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExportResult]:
    repository = tmp_path_factory.mktemp("colbert-repo") / "model_repository"
    m3 = export_into(repository, str(m3_made[0]), "m3", formats=("onnx",), load_check=True)
    assert m3.load_check.ran and [c.output for c in m3.report.checks if c.artifact.startswith("served@")] == \
        ["embeddings", "token_vectors"]
    export_into(repository, str(stanford_made[0]), "stanford", formats=("onnx",))
    return repository, export_into(repository, str(made[0]), "colbert", load_check=True)


@pytest.fixture(scope="module")
def triton(exported: tuple):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


def test_pylate_folder_is_detected_as_multi_vector(made: tuple, exported: tuple) -> None:
    info = read_info(resolve_source(str(made[0]), None))
    assert info.task is Task.MULTI_VECTOR and info.colbert.query_length == QUERY_LENGTH
    assert info.colbert.document_length == DOCUMENT_LENGTH
    repository, result = exported
    assert result.load_check.ran and any(c.artifact.startswith("served@") and c.passed for c in result.report.checks)
    assert {"colbert", "colbert_query", "colbert_vectors", "colbert_query_vectors", "colbert_onnx",
            "colbert_torchscript"} <= {path.name for path in repository.iterdir()}


@pytest.mark.parametrize("query", [False, True])
def test_served_vectors_equal_pylate_encode(text_client: TextClient, made: tuple, query: bool) -> None:
    reference = made[1]
    encoded = text_client.encode_multi_vector(TEXTS, "colbert", query=query, batch_size=3)
    for item in encoded:
        want = reference[f"{'query' if query else 'document'}/{item.index}"]
        assert item.vectors.shape == want.shape
        np.testing.assert_allclose(item.vectors, want, atol=1e-5, rtol=0)
    counts = [len(item.vectors) for item in encoded]
    assert counts == [QUERY_LENGTH] * len(TEXTS) if query else counts[-1] == DOCUMENT_LENGTH


@pytest.mark.parametrize("query", [False, True])
def test_stanford_checkpoint_vectors_equal_pylate(text_client: TextClient, stanford_made: tuple, query: bool) -> None:
    assert read_info(resolve_source(str(stanford_made[0]), None)).colbert.stanford
    for item in text_client.encode_multi_vector(TEXTS, "stanford", query=query):
        want = stanford_made[1][f"{'query' if query else 'document'}/{item.index}"]
        assert item.vectors.shape == want.shape
        np.testing.assert_allclose(item.vectors, want, atol=1e-5, rtol=0)


def test_wire_carries_no_padding(triton: LocalTriton, protocol: str, made: tuple) -> None:
    module = httpclient if protocol == "http" else grpcclient
    with module.InferenceServerClient(triton.http_url if protocol == "http" else triton.grpc_url) as client:
        text = module.InferInput("TEXT", [len(TEXTS), 1], "BYTES")
        text.set_data_from_numpy(np.array([[t.encode()] for t in TEXTS], dtype=object))
        answer = client.infer("colbert", [text])
    items, counts = answer.as_numpy("vectors"), answer.as_numpy("token_counts")
    assert items.shape == (len(TEXTS), 1) and counts.shape == (len(TEXTS), 1)
    for row, (item, count) in enumerate(zip(items[:, 0], counts[:, 0])):
        assert len(item) == count * DIM * 4
        np.testing.assert_allclose(unpack(item, int(count)), made[1][f"document/{row}"], atol=1e-5)


def test_rerank_scores_with_max_sim(text_client: TextClient, made: tuple) -> None:
    expected = made[1]["scores"]
    ranked = text_client.rerank(QUERY, TEXTS, model="colbert")
    assert [item.index for item in ranked] == list(np.argsort(-expected, kind="stable"))
    np.testing.assert_allclose([item.score for item in ranked], np.sort(expected)[::-1], atol=1e-4)


def test_cli_multi_vector_and_rerank(triton: LocalTriton, made: tuple) -> None:
    runner = CliRunner()
    answer = runner.invoke(cli, ["--url", triton.http_url, "multi-vector", "--query", "--model", "colbert", "--json",
                                 *TEXTS[:2]])
    assert answer.exit_code == 0, answer.output
    for record in json.loads(answer.output):
        np.testing.assert_allclose(record["vectors"], made[1][f"query/{record['index']}"], atol=1e-5)
    table = runner.invoke(cli, ["--url", triton.http_url, "multi-vector", "-m", "colbert", TEXTS[1]])
    assert table.exit_code == 0 and "12×16 token vectors" in table.output
    ranked = runner.invoke(cli, ["--url", triton.http_url, "rerank", "--model", "colbert", "--json", QUERY, *TEXTS])
    assert ranked.exit_code == 0, ranked.output
    expected = made[1]["scores"]
    assert [r["index"] for r in json.loads(ranked.output)] == list(np.argsort(-expected, kind="stable"))


def test_a_model_without_vectors_is_refused(text_client: TextClient) -> None:
    with pytest.raises(UnsupportedModel, match="does not return token vectors"):
        text_client.encode_multi_vector(["hello"], "colbert_onnx")


def test_bge_m3_folder_is_detected_as_multi_vector(m3_made: tuple) -> None:
    info = read_info(resolve_source(str(m3_made[0]), None))
    assert info.task is Task.MULTI_VECTOR and info.m3 and info.colbert is None


@pytest.mark.parametrize("query", [False, True])
def test_bge_m3_outputs_equal_flag_embedding(text_client: TextClient, m3_made: tuple, query: bool) -> None:
    reference = m3_made[1]
    encoded = text_client.encode_multi_vector(M3_TEXTS, "m3", query=query, batch_size=3)
    np.testing.assert_allclose(np.stack([item.dense for item in encoded]), reference["dense"], atol=1e-5, rtol=0)
    for item in encoded:
        want = reference[f"colbert/{item.index}"]
        assert item.vectors.shape == want.shape
        np.testing.assert_allclose(item.vectors, want, atol=1e-5, rtol=0)
        lexical = json.loads(str(reference[f"lexical/{item.index}"]))
        assert sorted(item.lexical_weights) == sorted(lexical)
        np.testing.assert_allclose([item.lexical_weights[k] for k in lexical], list(lexical.values()), atol=1e-5)
    assert len(encoded[-1].vectors) == 64 - 1  # the long text: truncated to the window, [CLS] left out
    assert sum(len(item.lexical_weights) for item in encoded) > 0


def test_bge_m3_rerank_orders_as_its_colbert_score(text_client: TextClient, m3_made: tuple) -> None:
    ranked = text_client.rerank(QUERY, M3_TEXTS, model="m3")
    assert [item.index for item in ranked] == list(np.argsort(-m3_made[1]["scores"], kind="stable"))
