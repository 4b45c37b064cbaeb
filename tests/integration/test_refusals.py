"""Every architecture transformers registers is refused in one line saying what it is, or passes detection.

The walk exports a folder holding only each pair's default config.json, in-process: no weights load, so it takes
seconds. Specific refusals, the tokenizer of CLIP's text tower and the GPT-2 classifier hints are checked on tiny
real models; the CLIP text model is served by the real local Triton (the load check).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.architectures import PASSES, Outcome, registered_pairs, walk
from export.cli import main
from export.errors import ExportFailedError, VerificationError
from export.failure import failure_message
from export.gates import Gate
from export.verify import Check, Report
from tests.support.exports import export_into
from tests.support.tiny_models import make_clip_text, make_gpt2_classifier

EXPORTED = "tritonize exports text encoders: embeddings (*Model, sentence-transformers folders)"
#: Pair → what its one-line refusal must say (the issue's cases).
EXPECTED = {
    ("detr", "DetrForObjectDetection"): ("is an image model (object detection): tritonize does not export it yet.",
                                         "image preprocessing"),
    ("dinov2", "Dinov2Backbone"): ("is an image model (", "image preprocessing"),
    ("wav2vec2", "Wav2Vec2Model"): ("is an audio model (", "extracts the audio features"),
    ("bart", "BartForSequenceClassification"): (
        "is an encoder-decoder text model (its head reads the decoder's output): tritonize does not export "
        "encoder-decoder models yet.", "ONNX Runtime or PyTorch backend"),
    ("gpt2", "GPT2LMHeadModel"): ("is a text model (text generation): tritonize does not export it yet.",
                                  "vLLM backend or the TensorRT-LLM backend"),
    ("llama", "LlamaForCausalLM"): ("is a text model (text generation)", "vLLM backend or the TensorRT-LLM backend"),
    ("t5", "T5ForConditionalGeneration"): ("is a text model (text-to-text generation)",
                                           "vLLM backend or the TensorRT-LLM backend"),
    ("owlvit", "OwlViTForObjectDetection"): ("is an image-text model (zero-shot object detection)",
                                             "image and text preprocessing"),
    ("whisper", "WhisperForConditionalGeneration"): ("is an audio model (speech recognition)", "TensorRT-LLM"),
}
#: Pairs that must reach the weights (text encoders and classifiers).
PASSING = (("bert", "BertModel"), ("bert", "BertForSequenceClassification"), ("bert", "BertForTokenClassification"),
           ("clip_text_model", "CLIPTextModel"), ("t5", "T5EncoderModel"), ("gpt2", "GPT2ForSequenceClassification"),
           ("qwen3", "Qwen3Model"), ("modernbert", "ModernBertModel"),
           # image models: served from encoded image bytes (tests/test_images_*.py)
           ("vit", "ViTForImageClassification"), ("vit", "ViTModel"), ("dinov2", "Dinov2Model"),
           ("convnext", "ConvNextForImageClassification"), ("swin", "SwinForImageClassification"),
           ("clip", "CLIPModel"), ("siglip", "SiglipModel"), ("clip_vision_model", "CLIPVisionModel"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    found = walk(tmp_path_factory.mktemp("architectures"))
    return {(o.model_type, o.architecture): o for o in found}


@pytest.mark.export  # the walk: ~10 s in-process, no weights
def test_every_registered_pair_ends_in_one_line_with_exit_1_or_2(outcomes: dict[tuple[str, str], Outcome]) -> None:
    assert len(outcomes) == len(registered_pairs()) > 1000
    escaped = [f"{o.architecture}: {o.error}: {o.message[:200]}" for o in outcomes.values() if not o.domain]
    assert escaped == []


@pytest.mark.export  # the walk: ~10 s in-process, no weights
def test_refusals_say_what_the_model_is_and_where_it_goes(outcomes: dict[tuple[str, str], Outcome]) -> None:
    for pair, (what, where) in EXPECTED.items():
        message = outcomes[pair].message
        assert message.startswith(f"'{pair[1]}' {what}"), message
        assert where in message and EXPORTED in message, message
        assert outcomes[pair].error == "UnsupportedModelError" and outcomes[pair].exit_code == 1
    refused = [o for o in outcomes.values() if PASSES not in o.message]
    assert all("tritonize does not export" in o.message or "Unsupported architecture" in o.message for o in refused)
    assert sum("Unsupported architecture" in o.message for o in refused) == 0  # every registered class is named


@pytest.mark.export  # the walk: ~10 s in-process, no weights
def test_text_encoders_and_classifiers_pass_detection(outcomes: dict[tuple[str, str], Outcome]) -> None:
    for pair in PASSING:
        assert PASSES in outcomes[pair].message, (pair, outcomes[pair].message)


def test_cli_refuses_an_image_model_in_one_line(tmp_path: Path) -> None:
    config = {"model_type": "detr", "architectures": ["DetrForObjectDetection"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, [str(tmp_path), "--repository", str(tmp_path / "repo"), "--quiet"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: 'DetrForObjectDetection' is an image model (object detection): "
                                    "tritonize does not export it yet.")
    assert result.output.count("\n") == 1 and not (tmp_path / "repo").exists()


@pytest.mark.server
def test_clip_text_model_exports_and_serves_though_its_fast_decode_keeps_word_end_marks(tmp_path: Path) -> None:
    folder = tmp_path / "clip-text"
    folder.mkdir()
    make_clip_text(folder)
    from tokenizers import Tokenizer

    served = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert "</w>" in served.decode(served.encode("the quick brown fox").ids)
    result = export_into(tmp_path / "repo", str(folder), "clip_text", formats=("onnx",), release_check=False,
                         load_check=True)
    assert result.report.passed and any(c.artifact == "served@triton-2.51" for c in result.report.checks)


@pytest.mark.export
def test_gpt2_classifier_without_pad_token_says_to_set_pad_token_id(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    make_gpt2_classifier(folder, pad_token=False)
    with pytest.raises(ExportFailedError) as failed:
        export_into(tmp_path / "repo", str(folder), "gpt2", formats=("onnx",), release_check=False)
    message = str(failed.value)
    assert "\n" not in message
    assert "Cannot handle batch sizes > 1 if no padding token is defined" in message
    assert 'Set "pad_token_id" in config.json (e.g. to the EOS token id)' in message


@pytest.mark.export
def test_a_failing_reference_check_prints_its_numbers_in_one_line(tmp_path: Path) -> None:
    """A GPT-2 classifier padded on the left (its position ids shift): the reference check fails, in words."""
    folder = tmp_path / "gpt2-left"
    folder.mkdir()
    make_gpt2_classifier(folder, padding_side="left")
    with pytest.raises(VerificationError) as failed:
        export_into(tmp_path / "repo", str(folder), "gpt2", formats=("onnx",), release_check=False)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Verification failed: ref hf-")
    assert "max |diff|" in message and "(atol 0.0001), top-class agreement " in message
    assert message.endswith("%. Nothing was written.")


@pytest.mark.parametrize("gate", [
    Gate("fp32", atol=1e-4),  # reference checks of classifiers: agreement shown, not gated
    Gate("fp32", atol=1e-4, min_cosine=0.9999),
    Gate("int8", min_cosine=0.97, mean_cosine=0.99, min_agreement=0.99),
    Gate("fp16"),
])
def test_failure_message_never_formats_a_missing_threshold(gate: Gate) -> None:
    failed = Check("ref hf-5", "logits", 16, 30, 4.45, 0.5, 0.7, 0.938, gate, False, "transformers 5")
    message = failure_message(Report((failed,)))
    assert "None" not in message and "\n" not in message
    assert message.startswith("Verification failed: ref hf-5 (") and "top-class agreement 93.8%" in message
