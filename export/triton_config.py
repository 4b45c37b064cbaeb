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
    LEXICAL_WEIGHTS_OUTPUT,
    MULTI_VECTOR_OUTPUTS,
    PROMPT_NAME_INPUT,
    TEXT_INPUT,
    TOKEN_COUNT,
    Signature,
    Task,
    TensorSpec,
)
from tritonize.contract import CONTAINER_REPOSITORY
from tritonize.repo_format import multi_vector, nli_zero_shot
from tritonize.repo_format.files import LABELS_FILENAME, TENSORRT_CACHE_DIR
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.platforms import (
    ENSEMBLE_PLATFORM,
    INTRA_OP_THREADS,
    ONE_STEP,
    PLATFORMS,
    PYTHON_BACKEND,
    SERVING_KEY,
)
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


def _step_outputs(signature: Signature) -> tuple[TensorSpec, ...]:
    """What a multi-vector ensemble's vectors step returns: packed vectors and counts (BGE-M3: lexical weights)."""
    m3 = any(spec.name == multi_vector.TOKEN_WEIGHTS for spec in signature.outputs)
    return (*MULTI_VECTOR_OUTPUTS, LEXICAL_WEIGHTS_OUTPUT) if m3 else MULTI_VECTOR_OUTPUTS


def _per_token(signature: Signature) -> list[TensorSpec]:
    """The model's per-token outputs, which the vectors step reads (the dense vector goes straight out)."""
    return [spec for spec in signature.outputs if spec.dims and spec.dims[0] == -1]


def vectors_config(name: str, signature: Signature, settings: ExportSettings, keep: str,
                   skiplist_ids: tuple[int, ...], unused_ids: tuple[int, ...] = ()) -> mc.ModelConfig:
    """Config of a multi-vector model's vectors step: tokens and per-token vectors in, one packed item per text out."""
    batching = settings.batching
    tokens = [spec for spec in signature.inputs if spec.name in ("input_ids", "attention_mask")]
    config = mc.ModelConfig(
        name=name,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=[_input(spec, batching.max_batch_size) for spec in (*tokens, *_per_token(signature))],
        output=[_output(spec, batching.max_batch_size, False) for spec in _step_outputs(signature)],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        parameters={multi_vector.KEEP_KEY: mc.ModelParameter(string_value=keep),
                    multi_vector.SKIPLIST_KEY: mc.ModelParameter(string_value=json.dumps(list(skiplist_ids))),
                    multi_vector.UNUSED_KEY: mc.ModelParameter(string_value=json.dumps(list(unused_ids)))},
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def multi_vector_ensemble_config(names: ModelNames, artifact: str, fmt: Format, signature: Signature,
                                 settings: ExportSettings) -> mc.ModelConfig:
    """Config of a multi-vector ensemble (documents, or the query side): tokenizer → model → vectors step."""
    max_batch_size = settings.batching.max_batch_size
    per_token = [spec.name for spec in _per_token(signature)]
    steps = [
        mc.ModelEnsembling.Step(model_name=names.tokenizer, model_version=-1,
                                input_map={TEXT_INPUT.name: TEXT_INPUT.name},
                                output_map={name: name for name in signature.input_names}),
        mc.ModelEnsembling.Step(model_name=artifact, model_version=-1,
                                input_map={name: name for name in signature.input_names},
                                output_map={_artifact_output_name(signature, fmt, spec): spec.name
                                            for spec in signature.outputs}),
        mc.ModelEnsembling.Step(model_name=names.vectors, model_version=-1,
                                input_map={name: name for name in ("input_ids", "attention_mask", *per_token)},
                                output_map={spec.name: spec.name for spec in _step_outputs(signature)}),
    ]
    dense = [spec for spec in signature.outputs if spec.name not in per_token]
    return mc.ModelConfig(
        name=names.ensemble, platform=ENSEMBLE_PLATFORM, max_batch_size=max_batch_size,
        input=[_input(TEXT_INPUT, max_batch_size)],
        output=[_output(spec, max_batch_size, False) for spec in (*dense, *_step_outputs(signature))],
        ensemble_scheduling=mc.ModelEnsembling(step=steps),
    )


#: Pairs per request from the zero-shot model to a pair ensemble that does not batch (max_batch_size 0).
UNBATCHED_PAIRS = 64


def zero_shot_config(names: ModelNames, settings: ExportSettings, entailment_id: int) -> mc.ModelConfig:
    """Config of the Python-backend zero-shot model: one text and its candidate labels per request (BLS).

    It does not batch (``max_batch_size: 0``): each request carries its own number of labels. Its pairs go to the
    ensemble in batches the ensemble accepts.
    """
    text = mc.ModelInput(name=nli_zero_shot.TEXT_INPUT, data_type=mc.TYPE_STRING, dims=[1])
    labels = mc.ModelInput(name=nli_zero_shot.LABELS_INPUT, data_type=mc.TYPE_STRING, dims=[-1])
    template = mc.ModelInput(name=nli_zero_shot.TEMPLATE_INPUT, data_type=mc.TYPE_STRING, dims=[1], optional=True)
    multi_label = mc.ModelInput(name=nli_zero_shot.MULTI_LABEL_INPUT, data_type=mc.TYPE_BOOL, dims=[1], optional=True)
    pair_batch = settings.batching.max_batch_size or UNBATCHED_PAIRS
    return mc.ModelConfig(
        name=names.zero_shot,
        backend=PYTHON_BACKEND,
        max_batch_size=0,
        input=[text, labels, template, multi_label],
        output=[mc.ModelOutput(name=nli_zero_shot.LABELS_OUTPUT, data_type=mc.TYPE_STRING, dims=[-1]),
                mc.ModelOutput(name=nli_zero_shot.SCORES_OUTPUT, data_type=mc.TYPE_FP32, dims=[-1])],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        parameters={
            nli_zero_shot.PAIR_MODEL_KEY: mc.ModelParameter(string_value=names.ensemble),
            nli_zero_shot.ENTAILMENT_ID_KEY: mc.ModelParameter(string_value=str(entailment_id)),
            nli_zero_shot.PAIR_BATCH_KEY: mc.ModelParameter(string_value=str(pair_batch)),
        },
    )


#: Folder of warm-up input files, beside ``config.pbtxt`` (where Triton looks for ``input_data_file``).
WARMUP_FOLDER = "warmup"
#: The text the one-step model warms up with (a pair's both sides for rerankers).
WARMUP_TEXT = "Warming up the model with a short sentence."


def one_step_config(names: ModelNames, signature: Signature, settings: ExportSettings,
                    parameters: TokenizerParameters, has_labels: bool, prompts: bool = False) -> mc.ModelConfig:
    """Config of the one-step model: the ensemble's name, inputs and outputs, served by the Python backend.

    It takes the ONNX model's serving settings (instances, dynamic batching, queue policy, thread count) and the
    tokenizer model's parameters; it warms up with texts (:func:`warmup_files`) at batch 1 and the largest batch.
    Besides the ONNX model's outputs it declares :data:`TOKEN_COUNT` (each text's tokens, made only when asked
    for): a one-step model has no tokenizer step whose attention masks could be counted.
    """
    onnx = artifact_config(names, "onnx", signature, settings, has_labels)
    tokenizer = tokenizer_config(names, signature, settings, parameters, prompts)
    config = mc.ModelConfig()
    config.CopyFrom(onnx)
    config.name = names.ensemble
    config.ClearField("platform")
    config.backend = PYTHON_BACKEND
    del config.input[:]
    config.input.extend(tokenizer.input)
    config.output.append(_output(TOKEN_COUNT, settings.batching.max_batch_size, has_labels=False))
    for key, value in tokenizer.parameters.items():
        config.parameters[key].CopyFrom(value)
    config.parameters[SERVING_KEY].string_value = ONE_STEP
    del config.model_warmup[:]
    max_batch_size = settings.batching.max_batch_size
    for size in sorted({1, max_batch_size}):
        inputs = {spec.name: mc.ModelWarmup.Input(data_type=spec.dtype, dims=list(spec.dims),
                                                  input_data_file=spec.name)
                  for spec in signature.text_inputs}
        config.model_warmup.append(mc.ModelWarmup(name=f"batch_{size}", batch_size=size, inputs=inputs))
    return config


def warmup_files(signature: Signature) -> dict[str, bytes]:
    """The one-step model's warm-up inputs, one text item each, as Triton reads BYTES: 4-byte length, then UTF-8.

    Keys are paths beside ``config.pbtxt`` (``warmup/<input name>``).
    """
    text = WARMUP_TEXT.encode()
    item = len(text).to_bytes(4, "little") + text
    return {f"{WARMUP_FOLDER}/{spec.name}": item for spec in signature.text_inputs}


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
