"""Every tested family: tiny model → both formats → one real local Triton → raw text equals the reference library.

The reference is the library that defines the folder, run here on the same texts: ``SentenceTransformer.encode``
for sentence-transformers folders (with prompts by name), transformers with the text-classification pipeline's
post-processing for classifiers. Texts of mixed lengths, one truncated at the model's maximum length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import model_config_pb2 as mc

from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_families import FAMILIES, Family, make_family
from tritonize.repo_format.pbtxt import parse, render

TEXTS = [
    "hello world",
    "the quick brown fox jumps over the lazy dog, then the dog jumps over the fox",
    "short",
    " ".join(["long inputs are truncated to the model maximum length"] * 20),
    "Ünïcödé, émojis 🙂 and 漢字 must survive tokenization",
]
BY_NAME = {family.name: family for family in FAMILIES}
#: Exporting every family (both formats, both release checks) takes minutes before the first test runs.
pytestmark = pytest.mark.timeout(2400)


def base_name(family: Family) -> str:
    return family.name.replace("-", "_")


def torchscript_ensemble(repository: Path, base: str) -> str:
    """A second ensemble over the TorchScript model: the exported ensemble with its artifact step swapped."""
    config = parse((repository / base / "config.pbtxt").read_text())
    name = f"{base}_ts_ensemble"
    config.name = name
    step = config.ensemble_scheduling.step[1]
    step.model_name = f"{base}_torchscript"
    outputs = [o.name for o in config.output]
    step.ClearField("output_map")
    for index, output in enumerate(outputs):
        step.output_map[f"{output}__{index}"] = output
    (repository / name / "1").mkdir(parents=True)
    (repository / name / "config.pbtxt").write_text(render(config))
    labels = repository / base / "labels.txt"
    if labels.is_file():
        (repository / name / "labels.txt").write_bytes(labels.read_bytes())
    return name


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """Every family exported (ONNX + TorchScript, both verified in the release's runtimes) into one repository."""
    root = tmp_path_factory.mktemp("families")
    repository = root / "model_repository"
    folders = {}
    for family in FAMILIES:
        folder = root / "models" / family.name
        folder.mkdir(parents=True)
        make_family(folder, family)
        result = export_into(repository, str(folder), base_name(family))
        assert result.report.passed
        assert any(check.artifact.startswith("ref ") for check in result.report.checks)
        assert any(check.artifact.startswith("torchscript@torch-") for check in result.report.checks)
        torchscript_ensemble(repository, base_name(family))
        folders[family.name] = folder
    return repository, folders


@pytest.fixture(scope="module")
def triton(families: tuple[Path, dict[str, Path]]) -> LocalTriton:
    """One server for all families; each test loads its family's models and unloads them afterwards."""
    with LocalTriton(families[0], model_control_mode="explicit", ready_timeout=300) as server:
        yield server


@pytest.fixture
def served(request: pytest.FixtureRequest, triton: LocalTriton) -> Family:
    family = BY_NAME[request.param]
    base = base_name(family)
    models = [f"{base}_tokenizer", f"{base}_onnx", f"{base}_torchscript", base, f"{base}_ts_ensemble"]
    with httpclient.InferenceServerClient(triton.http_url) as control:
        for model in models:
            control.load_model(model)
        yield family
        for model in reversed(models):
            control.unload_model(model)


def reference(folder: Path, family: Family, prompt_name: str | None = None) -> dict[str, np.ndarray]:
    """What the defining library returns for TEXTS."""
    if family.st_modules:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(folder), device="cpu")
        return {"embeddings": model.encode(TEXTS, prompt_name=prompt_name, convert_to_numpy=True)}
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    # transformers' text-classification pipeline: softmax over classes (sigmoid for multi-label / one logit).
    return {"logits": logits.numpy(), "probabilities": torch.softmax(logits, dim=-1).numpy()}


def infer(module: object, url: str, model: str, outputs: list[str], prompt_name: str | None = None
          ) -> dict[str, np.ndarray]:
    text = module.InferInput("TEXT", [len(TEXTS), 1], "BYTES")
    text.set_data_from_numpy(np.array([[t.encode()] for t in TEXTS], dtype=object))
    inputs = [text]
    if prompt_name is not None:
        prompt = module.InferInput("PROMPT_NAME", [len(TEXTS), 1], "BYTES")
        prompt.set_data_from_numpy(np.array([[prompt_name.encode()]] * len(TEXTS), dtype=object))
        inputs.append(prompt)
    with module.InferenceServerClient(url) as client:
        result = client.infer(model, inputs)
    return {name: result.as_numpy(name) for name in outputs}


def assert_matches(served: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, want in expected.items():
        got = served[name]
        assert got.shape == want.shape, name
        if name == "embeddings":
            cosine = (got * want).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
            assert cosine.min() >= 0.9999, (name, cosine)
        assert np.abs(got - want).max() <= 1e-4, (name, np.abs(got - want).max())


@pytest.mark.parametrize("served", [family.name for family in FAMILIES], indirect=True)
def test_served_text_equals_the_reference_library(served: Family, triton: LocalTriton,
                                                  families: tuple[Path, dict[str, Path]]) -> None:
    folder = families[1][served.name]
    expected = reference(folder, served)
    base = base_name(served)
    for model in (base, f"{base}_ts_ensemble"):
        assert_matches(infer(httpclient, triton.http_url, model, list(expected)), expected)
        assert_matches(infer(grpcclient, triton.grpc_url, model, list(expected)), expected)


PROMPTED = [family.name for family in FAMILIES if any(family.prompts.values())]


@pytest.mark.parametrize("served", PROMPTED, indirect=True)
def test_prompt_chosen_by_name_equals_encode_with_that_prompt(served: Family, triton: LocalTriton,
                                                              families: tuple[Path, dict[str, Path]]) -> None:
    folder = families[1][served.name]
    base = base_name(served)
    for name in served.prompts:
        expected = reference(folder, served, prompt_name=name)
        assert_matches(infer(httpclient, triton.http_url, base, ["embeddings"], prompt_name=name), expected)
        assert_matches(infer(grpcclient, triton.grpc_url, f"{base}_ts_ensemble", ["embeddings"], prompt_name=name),
                       expected)
    default = reference(folder, served)  # the folder's default_prompt_name applies when none is sent
    assert_matches(infer(grpcclient, triton.grpc_url, base, ["embeddings"]), default)
    with pytest.raises(Exception, match="Unknown PROMPT_NAME 'nope'"):
        infer(httpclient, triton.http_url, base, ["embeddings"], prompt_name="nope")


def test_prompt_name_is_an_optional_input_of_prompted_models_only(families: tuple[Path, dict[str, Path]]) -> None:
    repository = families[0]
    for family in FAMILIES:
        config = parse((repository / base_name(family) / "config.pbtxt").read_text())
        inputs = {i.name: i for i in config.input}
        if any(family.prompts.values()):
            assert inputs["PROMPT_NAME"].optional and inputs["PROMPT_NAME"].data_type == mc.TYPE_STRING
        else:
            assert list(inputs) == ["TEXT"]
