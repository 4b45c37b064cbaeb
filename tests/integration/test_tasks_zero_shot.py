"""Zero-shot classification: NLI models exported as pair classifiers with a zero-shot model beside them.

The zero-shot model (Python backend, BLS) builds one (text, hypothesis) pair per candidate label, sends them to
the pair ensemble and reduces the logits; served through the real local Triton over HTTP and gRPC, its labels
and scores equal ``transformers.pipeline("zero-shot-classification")``.
"""

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
from client.errors import InputError, ServerRejected, UnsupportedModel
from export.load_model import read_info
from export.pipeline import ExportResult
from export.settings import ExportSettings
from export.source import resolve_source
from export.summary import summary
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_cross_encoder, make_nli
from tritonize.contract import Task

pytestmark = pytest.mark.server

#: Mixed texts; the last is longer than the models' 64-token window (the pipeline truncates the text, not the
#: hypothesis; so does the served pair tokenizer).
TEXTS = ["the quick brown fox jumps over the lazy dog", "hello",
         "customer review: the battery lasts two days, the screen is sharp but the speaker far too quiet",
         " ".join(["long inputs are truncated to the model maximum length"] * 12)]
LABELS = ["animals", "battery review", "gpu", "weather"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, ExportResult]]:
    root = tmp_path_factory.mktemp("nli")
    folders = {"mnli": make_nli(root / "mnli"), "ce": make_cross_encoder(_mkdir(root / "ce"), num_labels=3)}
    repository = root / "model_repository"
    results = {"mnli": export_into(repository, str(folders["mnli"]), "mnli", formats=("onnx",)),
               "ce": export_into(repository, str(folders["ce"]), "ce", formats=("torchscript",))}
    return repository, folders, results


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def triton(exported: tuple):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


@pytest.fixture(scope="module")
def classifiers(exported: tuple) -> dict[str, object]:
    return {kind: pipeline("zero-shot-classification", model=str(folder), device="cpu")
            for kind, folder in exported[1].items()}


def assert_same(result: object, expected: dict) -> None:
    assert list(result.labels) == expected["labels"]
    np.testing.assert_allclose(result.scores, expected["scores"], atol=1e-5, rtol=0)


def test_nli_folders_are_pair_classifiers_with_a_zero_shot_model(exported: tuple) -> None:
    repository, folders, results = exported
    for kind, folder in folders.items():
        assert read_info(resolve_source(str(folder), None)).task is Task.TEXT_RANKING
        assert results[kind].zero_shot and (repository / f"{kind}_zero_shot" / "1" / "model.py").is_file()
    text = summary(results["mnli"], ExportSettings(model="x", repository=repository))
    assert "zero-shot mnli_zero_shot: TEXT, CANDIDATE_LABELS" in text
    assert "detected from NLI labels (entailment)" in text and "client zero-shot --model mnli_zero_shot" in text


@pytest.mark.parametrize("kind", ["mnli", "ce"])
@pytest.mark.parametrize("multi_label", [False, True])
def test_served_labels_and_scores_equal_the_pipeline(text_client: TextClient, classifiers: dict, kind: str,
                                                     multi_label: bool) -> None:
    results = text_client.zero_shot_texts(TEXTS, LABELS, kind, multi_label=multi_label)
    for result, text in zip(results, TEXTS):
        assert_same(result, classifiers[kind](text, candidate_labels=LABELS, multi_label=multi_label))
    if not multi_label:
        np.testing.assert_allclose([sum(r.scores) for r in results], 1.0, atol=1e-5)


def test_template_one_label_and_comma_string(text_client: TextClient, classifiers: dict) -> None:
    template = "The topic of this text is {}"
    for labels in (LABELS, ["gpu"], "animals, gpu ,, weather"):
        got = text_client.zero_shot_texts(TEXTS[2], labels, "mnli_zero_shot", template=template)[0]
        assert_same(got, classifiers["mnli"](TEXTS[2], candidate_labels=labels, hypothesis_template=template))


def test_the_only_zero_shot_model_is_found_or_named(text_client: TextClient) -> None:
    with pytest.raises(Exception, match="several zero-shot models"):
        text_client.zero_shot_texts(TEXTS[0], LABELS)
    with pytest.raises(UnsupportedModel, match="does not classify zero-shot"):
        text_client.zero_shot_texts(TEXTS[0], LABELS, "mnli_onnx")
    with pytest.raises(InputError, match="No candidate labels"):
        text_client.zero_shot_texts(TEXTS[0], " , ", "mnli")


def raw_request(module: object, text: bytes, labels: list[bytes], template: bytes | None) -> list:
    tensors = [module.InferInput("TEXT", [1], "BYTES"), module.InferInput("CANDIDATE_LABELS", [len(labels)], "BYTES")]
    tensors[0].set_data_from_numpy(np.array([text], dtype=object))
    tensors[1].set_data_from_numpy(np.array(labels, dtype=object))
    if template is not None:
        tensors.append(module.InferInput("HYPOTHESIS_TEMPLATE", [1], "BYTES"))
        tensors[2].set_data_from_numpy(np.array([template], dtype=object))
    return tensors


@pytest.mark.parametrize(("text", "labels", "template", "message"), [
    (b"hello", [], None, "CANDIDATE_LABELS is empty: send at least one candidate label"),
    (b"hello", [b"a"], b"no placeholder", "has no {} where the label goes"),
    (b"hello", [b"a"], b"bad {name}", "does not format with a label"),
    (b"  ", [b"a"], None, "TEXT must be one non-empty text"),
    (b"\xc3", [b"a"], None, "TEXT item 0 is not valid UTF-8"),
])
def test_bad_requests_get_one_clear_error_and_the_server_stays_healthy(
        triton: LocalTriton, protocol: str, classifiers: dict, text: bytes, labels: list, template: bytes | None,
        message: str) -> None:
    module = httpclient if protocol == "http" else grpcclient
    with module.InferenceServerClient(triton.http_url if protocol == "http" else triton.grpc_url) as client:
        with pytest.raises(Exception, match=message.replace("{", r"\{").replace("}", r"\}")) as raised:
            client.infer("mnli_zero_shot", raw_request(module, text, labels, template))
        assert "Traceback" not in str(raised.value)
        assert client.is_server_live() and client.is_model_ready("mnli_zero_shot")
        good = client.infer("mnli_zero_shot", raw_request(module, TEXTS[0].encode(), [s.encode() for s in LABELS],
                                                          None))
    assert [s.decode() for s in good.as_numpy("labels")] == classifiers["mnli"](TEXTS[0], LABELS)["labels"]


def test_client_names_the_rejected_text(text_client: TextClient) -> None:
    with pytest.raises(ServerRejected, match=r"'mnli_zero_shot' rejected text 1: .*has no \{\} where the label"):
        text_client.zero_shot_texts(TEXTS[:2], LABELS, "mnli", template="no placeholder")


def test_cli_zero_shot_prints_the_pipeline_answer(triton: LocalTriton, classifiers: dict) -> None:
    runner = CliRunner()
    answer = runner.invoke(cli, ["--url", triton.grpc_url, "--protocol", "grpc", "zero-shot", "--model", "mnli",
                                 "--labels", ",".join(LABELS), "--multi-label", "--json", *TEXTS[:2]])
    assert answer.exit_code == 0, answer.output
    records = json.loads(answer.output)
    for record, text in zip(records, TEXTS):
        expected = classifiers["mnli"](text, candidate_labels=LABELS, multi_label=True)
        assert record["sequence"] == text and record["labels"] == expected["labels"]
        np.testing.assert_allclose(record["scores"], expected["scores"], atol=1e-5)
    table = runner.invoke(cli, ["--url", triton.http_url, "zero-shot", "-m", "mnli", "-l", "gpu,animals", "hello"])
    assert table.exit_code == 0 and table.output.startswith("     1  hello")
    bad = runner.invoke(cli, ["--url", triton.http_url, "zero-shot", "-m", "mnli", "-l", "gpu", "-t", "x", "hi"])
    assert bad.exit_code == 1 and "has no {} where the label goes" in bad.output
    assert "Traceback" not in bad.output
