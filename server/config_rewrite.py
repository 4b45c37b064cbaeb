"""Decide, model by model, how the bundled server (Python backend + ensembles only) serves a repository.

Pure functions over ``ModelConfig`` protobufs: no file system, no server. :mod:`server.shadow` applies the
result to a shadow repository.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format.files import ONNX_FILENAME, PYTHON_MODEL_FILENAME, TORCHSCRIPT_FILENAME
from tritonize.repo_format.pbtxt import ParseError, parse
from tritonize.repo_format.platforms import (
    BACKENDS,
    ENSEMBLE_PLATFORM,
    INTER_OP_THREADS,
    INTRA_OP_THREADS,
    PLATFORMS,
    PYTHON_BACKEND,
)

#: Name of the Python-backend file in every version folder of an adapted model.
ADAPTER_FILENAME = PYTHON_MODEL_FILENAME
#: Config parameter that tells an adapter which artifact of the version folder to run.
ARTIFACT_PARAMETER = "tritonize_artifact"


@dataclass(frozen=True)
class Runtime:
    """A model format the bundled server has no backend for, and the adapter that serves it.

    Attributes:
        name: Short name (``onnx``, ``torchscript``).
        platforms: Triton ``platform`` values of the format.
        backends: Triton ``backend`` values of the format.
        default_filename: Artifact Triton's own backend loads unless the config names another.
        adapter: Source file in ``server/adapters/`` that becomes ``model.py``.
        engine: What runs the artifact, for messages.
        parameters: Config parameters the adapter honours (the same keys as Triton's own backend).
    """

    name: str
    platforms: tuple[str, ...]
    backends: tuple[str, ...]
    default_filename: str
    adapter: str
    engine: str
    parameters: tuple[str, ...]


ONNX = Runtime("onnx", (PLATFORMS["onnx"],), (BACKENDS["onnx"],), ONNX_FILENAME, "onnx_adapter.py", "ONNX Runtime",
               (INTRA_OP_THREADS["onnx"], INTER_OP_THREADS["onnx"]))
TORCHSCRIPT = Runtime("torchscript", (PLATFORMS["torchscript"],), (BACKENDS["torchscript"],), TORCHSCRIPT_FILENAME,
                      "torchscript_adapter.py", "torch.jit",
                      (INTRA_OP_THREADS["torchscript"], INTER_OP_THREADS["torchscript"]))
RUNTIMES = (ONNX, TORCHSCRIPT)


@dataclass(frozen=True)
class Translation:
    """How one model of the user's repository is served.

    Attributes:
        name: The model (its folder name).
        source: The platform or backend the user's config states (``?`` when it does not parse).
        config: The config the shadow repository serves; ``None`` when it serves the user's own, untouched.
        runtime: The adapter's runtime, when a Python-backend adapter serves the model.
        artifact: The file of each version folder the adapter runs.
        notes: Every change, and anything Triton will refuse, one line each.
        differences: How serving the model here differs from the container's backend, one line each.
        versions: The numeric version folders of the user's model.
        policy: The config's ``version_policy`` (``None``: none given or the config does not parse).
        python: The model runs on the Python backend (natively or through an adapter), so it runs code from
            its folder.
    """

    name: str
    source: str
    config: mc.ModelConfig | None = None
    runtime: Runtime | None = None
    artifact: str | None = None
    notes: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    python: bool = False
    differences: tuple[str, ...] = ()
    policy: mc.ModelVersionPolicy | None = None

    @property
    def served_versions(self) -> tuple[int, ...]:
        """The versions Triton loads: those of :attr:`versions` the version policy selects."""
        return served_versions(self.policy, self.versions)

    @property
    def unchanged(self) -> bool:
        """The model is served with the user's own ``config.pbtxt``."""
        return self.config is None

    def summary(self) -> str:
        """One line: what serves the model."""
        if self.runtime is not None:
            return f"{self.source} → Python-backend adapter ({self.runtime.engine})"
        if self.config is not None:
            return f"{self.source} (config adjusted)"
        return f"{self.source} (as is)"


def translate(name: str, config_text: str | None, gpu_count: int) -> Translation:
    """How the bundled server serves the model ``name`` whose ``config.pbtxt`` reads ``config_text``.

    Args:
        name: The model folder's name.
        config_text: Its ``config.pbtxt``; ``None`` when there is none.
        gpu_count: GPUs visible to the server; with none, GPU instance groups become CPU ones.
    """
    if config_text is None:
        return Translation(name, "?", notes=("no config.pbtxt: linked as is; Triton will report it",))
    try:
        config = parse(config_text)
    except ParseError as error:
        return Translation(name, "?", notes=(f"config.pbtxt does not parse ({error}): linked as is; "
                                             f"Triton will report it",))
    policy = config.version_policy if config.HasField("version_policy") else None
    return replace(_translate_config(name, config, gpu_count), policy=policy)


def served_versions(policy: mc.ModelVersionPolicy | None, versions: tuple[int, ...]) -> tuple[int, ...]:
    """The ``versions`` (ascending) that Triton loads under ``policy``; without one, Triton serves the newest."""
    choice = policy.WhichOneof("policy_choice") if policy is not None else None
    if choice == "all":
        return versions
    if choice == "specific":
        return tuple(v for v in versions if v in set(policy.specific.versions))
    newest = policy.latest.num_versions if choice == "latest" else 1
    return versions[-newest:] if versions and newest > 0 else ()


def _translate_config(name: str, config: mc.ModelConfig, gpu_count: int) -> Translation:
    source = config.platform or config.backend or "?"
    runtime = runtime_of(config)
    if runtime is not None:
        return _adapt(name, source, config, runtime, gpu_count)
    if config.platform == ENSEMBLE_PLATFORM or config.backend == PYTHON_BACKEND:
        served = mc.ModelConfig()
        served.CopyFrom(config)
        notes = _instances_for(served, gpu_count)
        differences = _python_differences() if config.backend == PYTHON_BACKEND else ()
        return Translation(name, source, served if notes else None, notes=tuple(notes),
                           python=config.backend == PYTHON_BACKEND, differences=differences)
    return Translation(name, source, notes=(f"the bundled server has no '{source}' backend: linked as is; "
                                            f"Triton will refuse to load it",))


def runtime_of(config: mc.ModelConfig) -> Runtime | None:
    """The runtime an adapter needs for ``config``, or ``None`` when the bundled server serves it natively."""
    for runtime in RUNTIMES:
        if config.platform in runtime.platforms or config.backend in runtime.backends:
            return runtime
    return None


def _adapt(name: str, source: str, config: mc.ModelConfig, runtime: Runtime, gpu_count: int) -> Translation:
    """The same model (name, tensors, batching, versions, labels) on the Python backend."""
    artifact = config.default_model_filename or runtime.default_filename
    served = mc.ModelConfig()
    served.CopyFrom(config)
    served.ClearField("platform")
    served.ClearField("default_model_filename")
    served.backend = PYTHON_BACKEND
    served.parameters[ARTIFACT_PARAMETER].string_value = artifact
    notes = [f"{source} → Python-backend adapter running <version>/{artifact} with {runtime.engine}"]
    notes += _instances_for(served, gpu_count)
    notes += _drop_gpu_optimizations(served)
    ignored = sorted(key for key in config.parameters if key not in runtime.parameters)
    if ignored:
        notes.append(f"parameters the adapter does not use: {', '.join(ignored)} "
                     f"(it honours {', '.join(runtime.parameters)})")
    return Translation(name, source, served, runtime, artifact, tuple(notes), python=True,
                       differences=_adapter_differences(config, runtime))


#: What the container's own backend runs, per runtime, for the differences the adapters leave.
_CONTAINER_ENGINE = {"onnx": "Triton's onnxruntime backend (the ONNX Runtime of its release)",
                     "torchscript": "Triton's pytorch backend (the libtorch of its release)"}


def _adapter_differences(config: mc.ModelConfig, runtime: Runtime) -> tuple[str, ...]:
    """What still differs from the container when an adapter serves ``config``."""
    intra, inter = runtime.parameters
    threads = [f"{key}={config.parameters[key].string_value}" for key in (intra, inter) if key in config.parameters]
    differences = [
        f"engine: {runtime.engine} of this environment on the Python backend; the container runs "
        f"{_CONTAINER_ENGINE[runtime.name]}",
        "instances: one stub process each, tensors copied through shared memory; the container runs instances "
        "as threads of the server process",
        "batching: requests of equal input shapes run together, nothing else, as in the container",
        "threads: " + (", ".join(threads) if threads else
                       f"{intra} unset, so each instance takes the runtime's default (one thread per core), as in "
                       f"the container"),
    ]
    if any(tensor.allow_ragged_batch for tensor in config.input):
        differences.append("allow_ragged_batch: requests of different shapes still run apart (the adapter does not "
                           "pad); Triton's backend would receive them concatenated")
    return tuple(differences)


def _python_differences() -> tuple[str, ...]:
    """What differs from the container for a Python-backend model."""
    here = ".".join(str(part) for part in sys.version_info[:2])
    return (f"Python {here} with this environment's packages; the container's Python backend has Python 3.10 and "
            f"what its image installs (docker/requirements.txt)",)


def _instances_for(config: mc.ModelConfig, gpu_count: int) -> list[str]:
    """Turn GPU instance groups into CPU ones when no GPU is visible; return what changed."""
    if gpu_count > 0:
        return []
    notes = []
    for index, group in enumerate(config.instance_group):
        label = group.name or f"#{index}"
        if group.kind == mc.ModelInstanceGroup.KIND_GPU:
            group.kind = mc.ModelInstanceGroup.KIND_CPU
            notes.append(f"instance group {label}: KIND_GPU → KIND_CPU (no GPU visible)")
        if group.gpus:
            notes.append(f"instance group {label}: dropped gpus {list(group.gpus)} (no GPU visible)")
            group.ClearField("gpus")
    return notes


def _drop_gpu_optimizations(config: mc.ModelConfig) -> list[str]:
    """Remove settings only Triton's own GPU backends understand; return what was dropped."""
    notes = []
    optimization = config.optimization
    if optimization.HasField("execution_accelerators"):
        accelerators = optimization.execution_accelerators
        names = [f"gpu: {a.name}" for a in accelerators.gpu_execution_accelerator]
        names += [f"cpu: {a.name}" for a in accelerators.cpu_execution_accelerator]
        optimization.ClearField("execution_accelerators")
        notes.append(f"dropped optimization.execution_accelerators ({', '.join(names)}): only Triton's own "
                     f"backend applies them")
    if optimization.HasField("cuda"):
        optimization.ClearField("cuda")
        notes.append("dropped optimization.cuda: CUDA graphs need Triton's own GPU backend")
    if optimization.ListFields() == []:
        config.ClearField("optimization")
    return notes


def describe(repository: str, translations: list[Translation], gpu_count: int) -> str:
    """Model by model: what serves it, its versions, and every change made for the bundled server."""
    where = f"{gpu_count} GPU(s) visible" if gpu_count else "no GPU visible"
    if not translations:
        return f"{repository} holds no models."
    lines = [f"How the bundled Triton serves {repository} ({where}):"]
    width = max(len(t.name) for t in translations)
    for t in translations:
        served = t.served_versions
        versions = ", ".join(str(v) for v in served) or "none"
        idle = [str(v) for v in t.versions if v not in served]
        idle_note = f" (not served by its version_policy: {', '.join(idle)})" if idle else ""
        lines.append(f"  {t.name:<{width}}  {t.summary()}; versions: {versions}{idle_note}")
        lines.extend(f"  {'':<{width}}    - {note}" for note in t.notes)
        lines.extend(f"  {'':<{width}}    ~ differs from the container: {line}" for line in t.differences)
    return "\n".join(lines)
