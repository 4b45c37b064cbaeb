"""Models that are not ready: a model that fails to load and models never loaded (explicit model control)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tritonclient.http as httpclient
from click.testing import CliRunner, Result

from client.cli import cli
from client.errors import ModelNotReady
from client.text_client import TextClient
from server.local import LocalTriton
from tests.support.server import BROKEN_MODEL

BROKEN_CONFIG = '''name: "broken"
backend: "python"
max_batch_size: 4
input { name: "TEXT" data_type: TYPE_STRING dims: [1] }
output { name: "scores" data_type: TYPE_FP32 dims: [1] }
'''

REASON = "UNAVAILABLE: Internal: ValueError: weights are missing"


@pytest.fixture(scope="module")
def triton(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory):
    """Explicit model control: the tokenizer is loaded, ``broken`` failed to load, ``tiny_emb`` never loaded."""
    repository = tmp_path_factory.mktemp("states") / "model_repository"
    for name in ("tiny_cls_tokenizer", "tiny_emb", "tiny_emb_onnx", "tiny_emb_tokenizer"):
        shutil.copytree(tiny_repository / name, repository / name)
    (repository / "broken" / "1").mkdir(parents=True)
    (repository / "broken" / "1" / "model.py").write_text(BROKEN_MODEL)
    (repository / "broken" / "config.pbtxt").write_text(BROKEN_CONFIG)
    with LocalTriton(repository, model_control_mode="explicit") as server:
        with httpclient.InferenceServerClient(server.http_url) as control:
            control.load_model("tiny_cls_tokenizer")
            with pytest.raises(Exception, match="weights are missing"):
                control.load_model("broken")
        yield server


@pytest.fixture(params=["http", "grpc"])
def url(request: pytest.FixtureRequest, triton: LocalTriton) -> str:
    return f"{request.param}://{triton.http_url if request.param == 'http' else triton.grpc_url}"


def run(url: str, *args: str) -> Result:
    return CliRunner(env={"TRITON_MODEL": None}).invoke(cli, ["--url", url, *args])


def test_models_show_states_and_reasons(url: str) -> None:
    result = run(url, "models")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "MODEL               VERSION  STATE        REASON",
        "broken              1        UNAVAILABLE  Internal: ValueError: weights are missing",
        "tiny_cls_tokenizer  1        READY",
        "tiny_emb            -        not loaded",
        "tiny_emb_onnx       -        not loaded",
        "tiny_emb_tokenizer  -        not loaded",
    ]


def test_predict_on_a_model_that_failed_to_load(url: str) -> None:
    result = run(url, "predict", "-m", "broken", "hello")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: Model 'broken' is not ready on Triton at {url}: {REASON}\n"


def test_predict_on_a_model_never_loaded(url: str) -> None:
    result = run(url, "predict", "-m", "tiny_emb", "hello")
    assert (result.exit_code, result.stderr) == (1, f"Error: Model 'tiny_emb' is not ready on Triton at {url}: "
                                                    "not loaded\n")


@pytest.mark.parametrize("command", ["config", "metadata"])
def test_config_of_a_model_not_ready(url: str, command: str) -> None:
    result = run(url, command, "broken")
    assert (result.exit_code, result.stderr) == (1, f"Error: Model 'broken' is not ready on Triton at {url}: "
                                                    f"{REASON}\n")


def test_no_ready_text_ensemble_to_pick(url: str) -> None:
    result = run(url, "predict", "hello")
    assert result.exit_code == 1
    assert result.stderr == f"Error: Triton at {url} holds no ready text ensemble; name a model with --model\n"


def test_health_with_a_failed_model(url: str) -> None:
    result = run(url, "health")  # strict readiness: one failed model makes the server not ready
    assert (result.exit_code, result.stdout) == (1, f"{url}: live, not ready\n")
    result = run(url, "health", "--model", "broken")
    assert (result.exit_code, result.stdout) == (1, f"{url}: live, not ready; model broken: {REASON}\n")
    result = run(url, "health", "--model", "tiny_cls_tokenizer")  # the model asked about is ready
    assert (result.exit_code, result.stdout) == (0, f"{url}: live, not ready; model tiny_cls_tokenizer: READY\n")


def test_a_text_model_that_is_not_an_ensemble(url: str) -> None:
    """Any model taking one string tensor can be called; its outputs come back raw."""
    result = run(url, "predict", "-m", "tiny_cls_tokenizer", "--jsonl", "hello world")
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    assert set(outputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert outputs["attention_mask"][:4] == [1, 1, 1, 1] and len(outputs["attention_mask"]) == 8


def test_library_raises_model_not_ready(triton: LocalTriton) -> None:
    with TextClient(triton.grpc_url, "grpc") as client:
        with pytest.raises(ModelNotReady, match="weights are missing"):
            client.predict(["x"], model="broken")
        health = client.health("broken")
        assert (health.ok, health.live, health.ready, health.model_state) == (False, True, False, REASON)
