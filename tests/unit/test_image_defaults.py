"""Image exports take the image serving defaults of their kind wherever the caller left a default."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from export.cli import given_batching
from export.settings import (
    BATCHING_FIELDS,
    DEFAULT_BATCHING,
    DEFAULT_IMAGE_BATCHING,
    DEFAULT_IMAGE_INSTANCE_COUNT,
    DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT,
    DEFAULT_IMAGE_THREADS_PER_INSTANCE,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_THREADS_PER_INSTANCE,
    DEFAULT_TOKENIZER_INSTANCE_COUNT,
    SERVING_DEFAULTS,
    BatchingSettings,
    ExportSettings,
    image_serving,
)
from export.signature import Task, image_signature
from export.summary import image_target
from export.triton_config import ModelNames, artifact_config, image_ensemble_config, preprocess_config

SIGNATURE = image_signature(Task.IMAGE_CLASSIFICATION, (32, 32), num_labels=3)
NAMES = ModelNames("vit")


def test_text_settings_keep_the_text_defaults_and_name_them() -> None:
    settings = ExportSettings(instance_kind="cpu")
    assert settings.batching == DEFAULT_BATCHING["cpu"]
    assert (settings.instance_count, settings.threads_per_instance, settings.tokenizer_instance_count) == (
        DEFAULT_INSTANCE_COUNT["cpu"], DEFAULT_THREADS_PER_INSTANCE["cpu"], DEFAULT_TOKENIZER_INSTANCE_COUNT["cpu"])
    assert settings.defaulted == frozenset(SERVING_DEFAULTS)
    chosen = ExportSettings(instance_kind="cpu", batching=BatchingSettings(), instance_count=2, threads_per_instance=0,
                            tokenizer_instance_count=2)
    assert chosen.defaulted == frozenset()


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_image_exports_take_the_image_defaults_of_the_kind(kind: str) -> None:
    image = image_serving(ExportSettings(instance_kind=kind))
    assert image.batching == DEFAULT_IMAGE_BATCHING[kind]
    assert image.instance_count == DEFAULT_IMAGE_INSTANCE_COUNT[kind]
    assert image.threads_per_instance == DEFAULT_IMAGE_THREADS_PER_INSTANCE[kind]
    assert image.tokenizer_instance_count == DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT[kind]
    assert image.defaulted == frozenset(SERVING_DEFAULTS)
    assert image_serving(image) == image  # resolving twice changes nothing


def test_gpu_image_defaults_are_the_gpu_text_defaults() -> None:
    """Not measured on a GPU here: image exports for GPUs keep the text defaults."""
    text, image = ExportSettings(instance_kind="gpu"), image_serving(ExportSettings(instance_kind="gpu"))
    assert (image.batching, image.instance_count, image.threads_per_instance, image.tokenizer_instance_count) == (
        text.batching, text.instance_count, text.threads_per_instance, text.tokenizer_instance_count)


def test_what_the_caller_chose_wins_over_the_image_defaults() -> None:
    given = ExportSettings(instance_kind="cpu", instance_count=5, tokenizer_instance_count=4,
                           batching=BatchingSettings(max_batch_size=7, max_queue_delay_us=9))
    image = image_serving(given)
    assert (image.instance_count, image.tokenizer_instance_count, image.batching) == (5, 4, given.batching)
    assert image.threads_per_instance == DEFAULT_IMAGE_THREADS_PER_INSTANCE["cpu"]
    backend_default = image_serving(ExportSettings(instance_kind="cpu", threads_per_instance=0))
    assert backend_default.threads_per_instance is None  # 0: the backend's default, not the image default
    assert backend_default.instance_count == DEFAULT_IMAGE_INSTANCE_COUNT["cpu"]


def test_cli_batching_options_given_one_by_one() -> None:
    """The CLI names the batching fields the user did not give, so those alone take the image defaults."""
    assert given_batching("cpu", max_batch_size=None, max_queue_delay_us=None, preferred_batch_sizes=(),
                          pad_to_multiple_of=None) == (None, frozenset())
    batching, defaulted = given_batching("cpu", max_batch_size=None, max_queue_delay_us=1234,
                                         preferred_batch_sizes=(), pad_to_multiple_of=None)
    assert batching == replace(DEFAULT_BATCHING["cpu"], max_queue_delay_us=1234)
    assert defaulted == frozenset(BATCHING_FIELDS) - {"max_queue_delay_us"}
    image = image_serving(ExportSettings(instance_kind="cpu", batching=batching, defaulted=defaulted))
    assert image.batching == replace(DEFAULT_IMAGE_BATCHING["cpu"], max_queue_delay_us=1234)
    assert "max_queue_delay_us" not in image.defaulted


def test_image_configs_carry_the_image_defaults() -> None:
    image = image_serving(ExportSettings(instance_kind="cpu"))
    batching = DEFAULT_IMAGE_BATCHING["cpu"]
    model = artifact_config(NAMES, "onnx", SIGNATURE, image, True)
    assert model.max_batch_size == batching.max_batch_size
    assert model.instance_group[0].count == DEFAULT_IMAGE_INSTANCE_COUNT["cpu"]
    assert model.dynamic_batching.max_queue_delay_microseconds == batching.max_queue_delay_us
    assert list(model.dynamic_batching.preferred_batch_size) == list(batching.preferred_batch_sizes)
    assert model.parameters["intra_op_thread_count"] == mc.ModelParameter(
        string_value=str(DEFAULT_IMAGE_THREADS_PER_INSTANCE["cpu"]))
    step = preprocess_config(NAMES, SIGNATURE, image, {})
    assert step.instance_group[0].count == DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT["cpu"]
    assert step.max_batch_size == image_ensemble_config(NAMES, "onnx", SIGNATURE, image, True).max_batch_size == \
        batching.max_batch_size


def test_the_summary_says_which_defaults_an_image_export_got() -> None:
    line = image_target(image_serving(ExportSettings(instance_kind="cpu")))
    assert "image defaults for cpu (docs/images.md#batching)" in line and "except" not in line
    assert f"instances {DEFAULT_IMAGE_INSTANCE_COUNT['cpu']}× cpu" in line
    line = image_target(image_serving(ExportSettings(instance_kind="cpu", instance_count=5)))
    assert "image defaults for cpu except instance_count (" in line and "instances 5× cpu" in line
