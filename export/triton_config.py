"""Build every model's Triton config as a ``ModelConfig`` protobuf from the one Signature."""

from __future__ import annotations

import json

from tritonclient.grpc import model_config_pb2 as mc

from export.python_models.entities_model import INPUTS as ENTITY_INPUTS
from export.python_models.entities_model import LABELS_PARAMETER, PASSED_THROUGH, STRATEGY_PARAMETER
from export.python_models.sparse_tokens_model import PASSED_THROUGH as SPARSE_PASSED_THROUGH
from export.python_models.sparse_tokens_model import TOKENS_OUTPUT
from export.settings import Acceleration, ExportSettings, Format, QueuePolicy
from export.signature import (
    ENTITIES_OUTPUT,
    IMAGE_INPUT,
    PROMPT_NAME_INPUT,
    TEXT_INPUT,
    Signature,
    Task,
    TensorSpec,
)
from tritonize.contract import CONTAINER_REPOSITORY
from tritonize.repo_format.files import LABELS_FILENAME, TENSORRT_CACHE_DIR
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.platforms import ENSEMBLE_PLATFORM, INTRA_OP_THREADS, PLATFORMS, PYTHON_BACKEND
from tritonize.repo_format.tokenizer_encoding import TokenizerParameters

#: ``--instance-kind`` → Triton instance group kind.
INSTANCE_KINDS = {"gpu": mc.ModelInstanceGroup.KIND_GPU, "cpu": mc.ModelInstanceGroup.KIND_CPU}


def artifact_config(names: ModelNames, fmt: Format, signature: Signature, settings: ExportSettings,
                    has_labels: bool) -> mc.ModelConfig:
    """Config of the ONNX or TorchScript model: token tensors in, task tensors out."""
    batching = settings.batching
    config = mc.ModelConfig(
        name=names.artifact(fmt),
        platform=PLATFORMS[fmt],
        max_batch_size=batching.max_batch_size,
        input=[_input(spec, batching.max_batch_size) for spec in signature.inputs],
        output=[
            _output(spec, batching.max_batch_size, has_labels, _artifact_output_name(signature, fmt, spec))
            for spec in signature.outputs
        ],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[
            mc.ModelInstanceGroup(kind=INSTANCE_KINDS[settings.instance_kind], count=settings.instance_count)
        ],
        model_warmup=_warmups(signature, settings),
    )
    _add_dynamic_batching(config, batching.max_queue_delay_us, batching.preferred_batch_sizes, settings.queue)
    if settings.threads_per_instance:
        config.parameters[INTRA_OP_THREADS[fmt]].string_value = str(settings.threads_per_instance)
    if fmt == "onnx" and settings.acceleration.tensorrt:
        config.optimization.CopyFrom(tensorrt_optimization(config.name, settings.acceleration))
    return config


def tensorrt_optimization(model_name: str, acceleration: Acceleration) -> mc.ModelOptimizationPolicy:
    """ONNX Runtime's TensorRT accelerator with a persistent engine cache, so restarts skip engine builds."""
    cache = acceleration.tensorrt_cache_path or f"{CONTAINER_REPOSITORY}/{model_name}/{TENSORRT_CACHE_DIR}"
    accelerator = mc.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator(
        name="tensorrt",
        parameters={
            "precision_mode": acceleration.tensorrt_precision,
            "max_workspace_size_bytes": str(acceleration.tensorrt_workspace_mb * 1024 * 1024),
            "trt_engine_cache_enable": "true",
            "trt_engine_cache_path": cache,
        },
    )
    return mc.ModelOptimizationPolicy(
        execution_accelerators=mc.ModelOptimizationPolicy.ExecutionAccelerators(gpu_execution_accelerator=[accelerator])
    )


def tokenizer_config(names: ModelNames, signature: Signature, settings: ExportSettings,
                     parameters: TokenizerParameters, prompts: bool = False) -> mc.ModelConfig:
    """Config of the Python-backend tokenizer: ``TEXT`` (and optional ``PROMPT_NAME``) or a pair in, tokens out.

    ``parameters`` carry the tokenizer's own settings (limits, padding and truncation side, prompts).
    """
    batching = settings.batching
    config = mc.ModelConfig(
        name=names.tokenizer,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=_text_inputs(signature, batching.max_batch_size, prompts),
        output=[_output(spec, batching.max_batch_size, False) for spec in (*signature.inputs, *signature.token_spans)],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[
            mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=settings.tokenizer_instance_count)
        ],
        parameters={
            key: mc.ModelParameter(string_value=value) for key, value in parameters.as_strings().items()
        },
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def _text_inputs(signature: Signature, max_batch_size: int, prompts: bool) -> list[mc.ModelInput]:
    """``TEXT`` (and the optional ``PROMPT_NAME`` for models with prompts), or a reranker's pair.

    Pairs take no prompt: sentence-transformers' CrossEncoder has none.
    """
    inputs = [_input(spec, max_batch_size) for spec in signature.text_inputs]
    if prompts and signature.task is not Task.TEXT_RANKING:
        prompt = _input(PROMPT_NAME_INPUT, max_batch_size)
        prompt.optional = True
        inputs.append(prompt)
    return inputs


def ensemble_config(names: ModelNames, fmt: Format, signature: Signature, settings: ExportSettings,
                    has_labels: bool, prompts: bool = False) -> mc.ModelConfig:
    """Config of the ensemble clients call: tokenizer step, then the artifact step."""
    max_batch_size = settings.batching.max_batch_size
    text_inputs = _text_inputs(signature, max_batch_size, prompts)
    steps = [
        mc.ModelEnsembling.Step(
            model_name=names.tokenizer,
            model_version=-1,
            input_map={spec.name: spec.name for spec in text_inputs},
            output_map={**{spec.name: spec.name for spec in signature.inputs},
                        **{spec.name: _step_tensor(spec.name) for spec in signature.token_spans}},
        ),
        mc.ModelEnsembling.Step(
            model_name=names.artifact(fmt),
            model_version=-1,
            input_map={name: name for name in signature.input_names},
            output_map={_artifact_output_name(signature, fmt, spec): _step_tensor(spec.name)
                        if spec.name in _passed_through(signature) else spec.name for spec in signature.outputs},
        ),
    ]
    outputs = [_output(spec, max_batch_size, has_labels) for spec in signature.outputs]
    if signature.token_spans:
        steps.append(entities_step(names, signature))
        outputs += [_output(spec, max_batch_size, False) for spec in (*signature.token_spans, ENTITIES_OUTPUT)]
    if signature.task is Task.SPARSE_EMBEDDING:
        steps.append(mc.ModelEnsembling.Step(
            model_name=names.vocabulary, model_version=-1,
            input_map={name: _step_tensor(name) for name in SPARSE_PASSED_THROUGH},
            output_map={TOKENS_OUTPUT: TOKENS_OUTPUT, **{out: name for name, out in SPARSE_PASSED_THROUGH.items()}},
        ))
        outputs.append(_output(tokens_spec(signature), max_batch_size, False))
    return mc.ModelConfig(
        name=names.ensemble,
        platform=ENSEMBLE_PLATFORM,
        max_batch_size=max_batch_size,
        input=text_inputs,
        output=outputs,
        ensemble_scheduling=mc.ModelEnsembling(step=steps),
    )


def entities_step(names: ModelNames, signature: Signature) -> mc.ModelEnsembling.Step:
    """The ensemble step that aggregates token classes into entities (text, tokens, spans and logits in)."""
    return mc.ModelEnsembling.Step(
        model_name=names.entities, model_version=-1,
        input_map={name: _step_tensor(name) if name in PASSED_THROUGH else name for name in ENTITY_INPUTS},
        output_map={ENTITIES_OUTPUT.name: ENTITIES_OUTPUT.name,
                    **{passed: name for name, passed in PASSED_THROUGH.items()}},
    )


def vocabulary_config(names: ModelNames, signature: Signature, settings: ExportSettings) -> mc.ModelConfig:
    """Config of the Python-backend vocabulary model: a sparse embedding's indices → their tokens."""
    batching = settings.batching
    kept = [signature.output(name) for name in SPARSE_PASSED_THROUGH]
    config = mc.ModelConfig(
        name=names.vocabulary,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=[_input(spec, batching.max_batch_size) for spec in kept],
        output=[_output(tokens_spec(signature), batching.max_batch_size, False),
                *(_output(spec, batching.max_batch_size, False, SPARSE_PASSED_THROUGH[spec.name]) for spec in kept)],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def tokens_spec(signature: Signature) -> TensorSpec:
    """The ``tokens`` output of a sparse-embedding ensemble: the vocabulary token of each kept index."""
    return TensorSpec(TOKENS_OUTPUT, mc.TYPE_STRING, signature.output("indices").dims)


def _passed_through(signature: Signature) -> tuple[str, ...]:
    """Artifact outputs that a later step returns in the ensemble's name (see the step models)."""
    if signature.task is Task.SPARSE_EMBEDDING:
        return tuple(SPARSE_PASSED_THROUGH)
    return tuple(PASSED_THROUGH) if signature.token_spans else ()


def _step_tensor(name: str) -> str:
    """The ensemble's name for a tensor between steps that the ensemble also returns (from a later step)."""
    return f"{name}_step"


def entities_config(names: ModelNames, signature: Signature, settings: ExportSettings,
                    labels: tuple[str, ...]) -> mc.ModelConfig:
    """Config of the Python-backend entities model: token classes → entities, as transformers' pipeline groups them."""
    batching = settings.batching
    logits = signature.output("logits")
    inputs = [TEXT_INPUT, next(s for s in signature.inputs if s.name == "input_ids"), *signature.token_spans, logits]
    config = mc.ModelConfig(
        name=names.entities,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=[_input(spec, batching.max_batch_size) for spec in inputs],
        output=[_output(ENTITIES_OUTPUT, batching.max_batch_size, False),
                *(_output(spec, batching.max_batch_size, False, PASSED_THROUGH[spec.name])
                  for spec in (*signature.token_spans, logits))],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        parameters={
            STRATEGY_PARAMETER: mc.ModelParameter(string_value=settings.aggregation_strategy),
            LABELS_PARAMETER: mc.ModelParameter(string_value=json.dumps(list(labels))),
        },
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def _artifact_output_name(signature: Signature, fmt: Format, spec: TensorSpec) -> str:
    return signature.torchscript_output_name(spec.name) if fmt == "torchscript" else spec.name


def _dims(spec: TensorSpec, max_batch_size: int) -> list[int]:
    """Dims as configs state them: without the batch dim, unless the model does not batch."""
    return list(spec.dims) if max_batch_size > 0 else [-1, *spec.dims]


def _input(spec: TensorSpec, max_batch_size: int) -> mc.ModelInput:
    return mc.ModelInput(name=spec.name, data_type=spec.dtype, dims=_dims(spec, max_batch_size))


def _output(spec: TensorSpec, max_batch_size: int, has_labels: bool, name: str | None = None) -> mc.ModelOutput:
    return mc.ModelOutput(
        name=name or spec.name,
        data_type=spec.dtype,
        dims=_dims(spec, max_batch_size),
        label_filename=LABELS_FILENAME if spec.labelled and has_labels else "",
    )


def _add_dynamic_batching(config: mc.ModelConfig, delay_us: int, preferred: tuple[int, ...],
                          queue: QueuePolicy) -> None:
    if config.max_batch_size > 0:
        config.dynamic_batching.CopyFrom(
            mc.ModelDynamicBatching(max_queue_delay_microseconds=delay_us, preferred_batch_size=list(preferred),
                                    default_queue_policy=queue_policy(queue))
        )


def queue_policy(queue: QueuePolicy) -> mc.ModelQueuePolicy:
    """Triton's queue policy: refuse (UNAVAILABLE) beyond ``max_queue_size`` or after the timeout."""
    return mc.ModelQueuePolicy(
        timeout_action=mc.ModelQueuePolicy.REJECT,
        default_timeout_microseconds=queue.timeout_ms * 1000,
        allow_timeout_override=True,
        max_queue_size=queue.max_queue_size,
    )


def _warmups(signature: Signature, settings: ExportSettings) -> list[mc.ModelWarmup]:
    """Warm up at batch 1 and at the largest batch, one length bucket long, with zeros."""
    max_batch_size = settings.batching.max_batch_size
    length = settings.batching.pad_to_multiple_of
    sizes = sorted({1, max_batch_size}) if max_batch_size > 0 else [1]
    warmups = []
    for size in sizes:
        inputs = {}
        for spec in signature.inputs:
            dims = [length if dim == -1 else dim for dim in spec.dims]  # token tensors: one bucket long
            inputs[spec.name] = mc.ModelWarmup.Input(data_type=spec.dtype, zero_data=True,
                                                     dims=dims if max_batch_size > 0 else [1, *dims])
        warmups.append(mc.ModelWarmup(name=f"batch_{size}", batch_size=size, inputs=inputs))
    return warmups


def preprocess_config(names: ModelNames, signature: Signature, settings: ExportSettings,
                      parameters: dict[str, str]) -> mc.ModelConfig:
    """Config of the Python-backend image step: ``IMAGE`` (encoded bytes) in, ``pixel_values`` out."""
    batching = settings.batching
    config = mc.ModelConfig(
        name=names.preprocess,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=[_input(IMAGE_INPUT, batching.max_batch_size)],
        output=[_output(spec, batching.max_batch_size, False) for spec in signature.inputs],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[
            mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=settings.tokenizer_instance_count)
        ],
        parameters={key: mc.ModelParameter(string_value=value) for key, value in parameters.items()},
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def image_ensemble_config(names: ModelNames, fmt: Format, signature: Signature, settings: ExportSettings,
                          has_labels: bool, parameters: dict[str, str] | None = None) -> mc.ModelConfig:
    """Config of the image ensemble clients call: preprocessing step, then the artifact step.

    ``parameters`` are for clients (a CLIP export's zero-shot settings); Triton keeps them and serves them.
    """
    max_batch_size = settings.batching.max_batch_size
    steps = [
        mc.ModelEnsembling.Step(model_name=names.preprocess, model_version=-1,
                                input_map={IMAGE_INPUT.name: IMAGE_INPUT.name},
                                output_map={name: name for name in signature.input_names}),
        mc.ModelEnsembling.Step(model_name=names.artifact(fmt), model_version=-1,
                                input_map={name: name for name in signature.input_names},
                                output_map={_artifact_output_name(signature, fmt, spec): spec.name
                                            for spec in signature.outputs}),
    ]
    return mc.ModelConfig(
        name=names.ensemble,
        platform=ENSEMBLE_PLATFORM,
        max_batch_size=max_batch_size,
        input=[_input(IMAGE_INPUT, max_batch_size)],
        output=[_output(spec, max_batch_size, has_labels) for spec in signature.outputs],
        ensemble_scheduling=mc.ModelEnsembling(step=steps),
        parameters={key: mc.ModelParameter(string_value=value) for key, value in (parameters or {}).items()},
    )
