"""Build every model's Triton config as a ``ModelConfig`` protobuf from the one Signature."""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from export.settings import CONTAINER_REPOSITORY, Acceleration, ExportSettings, Format, QueuePolicy
from export.signature import TEXT_INPUT, Signature, TensorSpec
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


def tokenizer_config(names: ModelNames, signature: Signature, settings: ExportSettings, max_length: int,
                     pad_token_id: int) -> mc.ModelConfig:
    """Config of the Python-backend tokenizer: ``TEXT`` in, padded token tensors out."""
    batching = settings.batching
    config = mc.ModelConfig(
        name=names.tokenizer,
        backend=PYTHON_BACKEND,
        max_batch_size=batching.max_batch_size,
        input=[_input(TEXT_INPUT, batching.max_batch_size)],
        output=[_output(spec, batching.max_batch_size, False) for spec in signature.inputs],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[
            mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=settings.tokenizer_instance_count)
        ],
        parameters={
            key: mc.ModelParameter(string_value=value)
            for key, value in TokenizerParameters(max_length, batching.pad_to_multiple_of, pad_token_id)
            .as_strings().items()
        },
    )
    _add_dynamic_batching(config, settings.tokenizer_queue_delay_us, (), settings.queue)
    return config


def ensemble_config(names: ModelNames, fmt: Format, signature: Signature, settings: ExportSettings,
                    has_labels: bool) -> mc.ModelConfig:
    """Config of the ensemble clients call: tokenizer step, then the artifact step."""
    max_batch_size = settings.batching.max_batch_size
    steps = [
        mc.ModelEnsembling.Step(
            model_name=names.tokenizer,
            model_version=-1,
            input_map={TEXT_INPUT.name: TEXT_INPUT.name},
            output_map={name: name for name in signature.input_names},
        ),
        mc.ModelEnsembling.Step(
            model_name=names.artifact(fmt),
            model_version=-1,
            input_map={name: name for name in signature.input_names},
            output_map={_artifact_output_name(signature, fmt, spec): spec.name for spec in signature.outputs},
        ),
    ]
    return mc.ModelConfig(
        name=names.ensemble,
        platform=ENSEMBLE_PLATFORM,
        max_batch_size=max_batch_size,
        input=[_input(TEXT_INPUT, max_batch_size)],
        output=[_output(spec, max_batch_size, has_labels) for spec in signature.outputs],
        ensemble_scheduling=mc.ModelEnsembling(step=steps),
    )


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
        dims = [length] if max_batch_size > 0 else [1, length]
        inputs = {
            spec.name: mc.ModelWarmup.Input(data_type=spec.dtype, dims=dims, zero_data=True)
            for spec in signature.inputs
        }
        warmups.append(mc.ModelWarmup(name=f"batch_{size}", batch_size=size, inputs=inputs))
    return warmups
