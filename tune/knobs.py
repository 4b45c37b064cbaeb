"""The serving knobs one candidate sets, read from and written into the models' ``ModelConfig`` protobufs.

Pure functions over protobufs: no file system, no server. Every knob but ``variant`` is a config field, so a
candidate is served by rewriting configs and reloading the models (see :mod:`tune.serving`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format.platforms import INTRA_OP_THREADS, PLATFORMS
from tritonize.repo_format.tokenizer_encoding import PAD_TO_MULTIPLE_OF_KEY, TEXT_INPUT
from tritonize.repo_format.tokenizer_folder import is_one_step

#: The artifact's format by its config's platform.
_FORMATS = {platform: fmt for fmt, platform in PLATFORMS.items()}


@dataclass(frozen=True)
class Knobs:
    """One candidate serving config of an exported text ensemble.

    Attributes:
        instance_count: Instances of the artifact model (ONNX / TorchScript); on GPUs, per GPU (Triton's count).
        threads_per_instance: Intra-op threads per artifact instance; 0: the backend's default (all cores).
        max_batch_size: Largest batch of every model of the ensemble.
        max_queue_delay_us: Dynamic batcher delay of the artifact model.
        preferred_batch_sizes: Dynamic batcher targets of the artifact model.
        pad_to_multiple_of: The tokenizer's length buckets.
        tokenizer_instance_count: Instances of the tokenizer model.
        tokenizer_queue_delay_us: Dynamic batcher delay of the tokenizer model.
        max_queue_size: Requests that may wait in each batched model's queue (0: no limit).
        queue_timeout_ms: A request that waited this long in a queue is refused (0: no limit).
        variant: The artifact's variant (``fp32``, ``optimize``, ``int8``, ``fp16``); re-exported, not a config.
    """

    instance_count: int
    threads_per_instance: int
    max_batch_size: int
    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...]
    pad_to_multiple_of: int
    tokenizer_instance_count: int
    tokenizer_queue_delay_us: int
    max_queue_size: int
    queue_timeout_ms: int
    variant: str = "fp32"

    def changed(self, base: Knobs) -> dict[str, object]:
        """The knobs that differ from ``base``, for tables."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(base, f.name)}

    def describe(self, base: Knobs) -> str:
        """``instance_count=2, pad_to_multiple_of=1``, or ``defaults``."""
        changes = self.changed(base)
        return ", ".join(f"{k}={_plain(v)}" for k, v in changes.items()) or "defaults"


@dataclass(frozen=True)
class Ensemble:
    """The models of one text ensemble, by role.

    A one-step model (``python -m export --serving one-step``) plays every role itself: it is the model clients
    call, it tokenizes and it runs the graph; its tokenizer knobs other than the length buckets do not apply.

    Attributes:
        ensemble: The ensemble clients call.
        tokenizer: Its first step, the Python-backend tokenizer.
        artifact: The step that runs the exported graph (ONNX / TorchScript; on the local server, its adapter).
        steps: Every composing model, in step order.
    """

    ensemble: str
    tokenizer: str
    artifact: str
    steps: tuple[str, ...]

    @classmethod
    def from_configs(cls, name: str, configs: dict[str, mc.ModelConfig]) -> Ensemble:
        """Roles from the ensemble's steps (``configs`` holds the ensemble and every step).

        Raises:
            ValueError: ``name`` is not an ensemble of a tokenizer and an ONNX / TorchScript model that takes
                ``TEXT`` (tune sends texts; image and pair ensembles are not tuned).
        """
        config = configs[name]
        takes_text = TEXT_INPUT in {tensor.name for tensor in config.input}
        if is_one_step(config) and takes_text:
            return cls(name, name, name, (name,))
        steps = tuple(step.model_name for step in config.ensemble_scheduling.step)
        if len(steps) < 2 or not takes_text or configs.get(steps[0], mc.ModelConfig()).backend != "python":
            raise ValueError(f"'{name}' is not a text ensemble of a tokenizer and an ONNX or TorchScript model "
                             f"(steps: {', '.join(steps) or 'none'})")
        return cls(name, steps[0], steps[1], steps)  # export's order: tokenizer, then the artifact

    @property
    def models(self) -> tuple[str, ...]:
        """Every model of the roles, once: the ensemble and its steps (a one-step model alone)."""
        return tuple(dict.fromkeys((self.ensemble, *self.steps)))

    @property
    def one_step(self) -> bool:
        """One model tokenizes and runs the graph (no separate tokenizer model to tune)."""
        return self.tokenizer == self.artifact


def threads_key(config: mc.ModelConfig) -> str:
    """The config parameter with the artifact's intra-op threads (onnxruntime or libtorch spelling)."""
    fmt = _FORMATS.get(config.platform) or ("torchscript" if config.backend == "pytorch" else "onnx")
    return INTRA_OP_THREADS[fmt]


def read_knobs(configs: dict[str, mc.ModelConfig], roles: Ensemble, variant: str = "fp32") -> Knobs:
    """The knobs the configs set now (the export's defaults, for a fresh export)."""
    artifact, tokenizer = configs[roles.artifact], configs[roles.tokenizer]
    threads = artifact.parameters[threads_key(artifact)].string_value if threads_key(artifact) in \
        artifact.parameters else ""
    policy = artifact.dynamic_batching.default_queue_policy
    return Knobs(
        instance_count=sum(group.count or 1 for group in artifact.instance_group) or 1,
        threads_per_instance=int(threads or 0),
        max_batch_size=artifact.max_batch_size,
        max_queue_delay_us=artifact.dynamic_batching.max_queue_delay_microseconds,
        preferred_batch_sizes=tuple(artifact.dynamic_batching.preferred_batch_size),
        pad_to_multiple_of=int(tokenizer.parameters[PAD_TO_MULTIPLE_OF_KEY].string_value or 1),
        tokenizer_instance_count=sum(group.count or 1 for group in tokenizer.instance_group) or 1,
        tokenizer_queue_delay_us=tokenizer.dynamic_batching.max_queue_delay_microseconds,
        max_queue_size=policy.max_queue_size,
        queue_timeout_ms=policy.default_timeout_microseconds // 1000,
        variant=variant,
    )


def apply_knobs(configs: dict[str, mc.ModelConfig], roles: Ensemble, knobs: Knobs) -> dict[str, mc.ModelConfig]:
    """New configs of every model of the ensemble with ``knobs`` set (``configs`` is left as it is)."""
    new = {name: _copy(config) for name, config in configs.items() if name in roles.models}
    for config in new.values():
        config.max_batch_size = knobs.max_batch_size
        for warmup in config.model_warmup:
            warmup.batch_size = min(warmup.batch_size, knobs.max_batch_size)
        if config.HasField("dynamic_batching"):
            policy = config.dynamic_batching.default_queue_policy
            policy.max_queue_size = knobs.max_queue_size
            policy.default_timeout_microseconds = knobs.queue_timeout_ms * 1000
            policy.timeout_action = mc.ModelQueuePolicy.REJECT
    artifact = new[roles.artifact]
    _set_instances(artifact, knobs.instance_count)
    key = threads_key(artifact)
    if knobs.threads_per_instance:
        artifact.parameters[key].string_value = str(knobs.threads_per_instance)
    elif key in artifact.parameters:
        del artifact.parameters[key]
    artifact.dynamic_batching.max_queue_delay_microseconds = knobs.max_queue_delay_us
    del artifact.dynamic_batching.preferred_batch_size[:]
    artifact.dynamic_batching.preferred_batch_size.extend(
        size for size in knobs.preferred_batch_sizes if size <= knobs.max_batch_size)
    tokenizer = new[roles.tokenizer]
    tokenizer.parameters[PAD_TO_MULTIPLE_OF_KEY].string_value = str(knobs.pad_to_multiple_of)
    if not roles.one_step:  # a one-step model's instances and delay are the artifact's, set above
        _set_instances(tokenizer, knobs.tokenizer_instance_count)
        tokenizer.dynamic_batching.max_queue_delay_microseconds = knobs.tokenizer_queue_delay_us
    return new


def changed_models(before: dict[str, mc.ModelConfig], after: dict[str, mc.ModelConfig]) -> list[str]:
    """Models whose config differs, in the order of ``after``."""
    return [name for name, config in after.items() if before.get(name) != config]


def with_variant(knobs: Knobs, variant: str) -> Knobs:
    """``knobs`` serving another variant of the artifact."""
    return replace(knobs, variant=variant)


def _set_instances(config: mc.ModelConfig, count: int) -> None:
    kind = config.instance_group[0].kind if config.instance_group else mc.ModelInstanceGroup.KIND_CPU
    gpus = list(config.instance_group[0].gpus) if config.instance_group else []
    del config.instance_group[:]
    config.instance_group.append(mc.ModelInstanceGroup(kind=kind, count=count, gpus=gpus))


def _copy(config: mc.ModelConfig) -> mc.ModelConfig:
    copy = mc.ModelConfig()
    copy.CopyFrom(config)
    return copy


def _plain(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(str(v) for v in value) + ")" if value else "()"
    return str(value)
