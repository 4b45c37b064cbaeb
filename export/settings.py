"""Typed settings of one export, as the CLI collects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from export.gates import GateOverrides
from tritonize.contract import Task
from tritonize.releases import DEFAULT_RELEASE
from tritonize.repo_format.platforms import Format

InstanceKind = Literal["gpu", "cpu"]

#: How a text export is served: one Python-backend model that tokenizes and runs ONNX Runtime (``one-step``), or
#: an ensemble of the tokenizer model and the artifact's model (``ensemble``). See :mod:`export.serving`.
Serving = Literal["one-step", "ensemble"]
SERVING_PATHS: tuple[Serving, ...] = ("one-step", "ensemble")

#: NGC release of the Triton container we target: the newest confirmed one of :mod:`tritonize.releases`.
DEFAULT_TRITON_RELEASE = DEFAULT_RELEASE

#: Opset we export with: the TorchScript-based exporter is fastest and verified at 17.
DEFAULT_OPSET = 17

FORMATS: tuple[Format, ...] = ("onnx", "torchscript")

#: Above this size ONNX weights move to an external data file (protobuf's 2 GB limit).
EXTERNAL_DATA_THRESHOLD_BYTES = 2 * 1024**3 - 64 * 1024**2


#: (index, weight) pairs a sparse embedding keeps per text. Measured with benchmarks/sparse_nonzeros.py on a
#: 2-layer SPLADE BERT (30522 tokens): sentences have 34 non-zero weights at the median (p99 120), passages of three
#: sentences 128 (p99 215), of eight sentences (144 tokens) 229; 256 keeps every weight of queries and typical
#: passages and the largest ones of long passages.
DEFAULT_SPARSE_TOP_K = 256


@dataclass(frozen=True)
class BatchingSettings:
    """How Triton batches requests for the exported models.

    Attributes:
        max_batch_size: Largest batch a model instance executes.
        max_queue_delay_us: How long the dynamic batcher waits to fill a batch.
        preferred_batch_sizes: Batch sizes the batcher aims for; empty lets Triton choose.
        pad_to_multiple_of: The tokenizer pads each request to a multiple of this many tokens, so that
            requests of similar length have equal shapes and can be batched together.
    """

    max_batch_size: int = 64
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    pad_to_multiple_of: int = 16


#: Batching defaults per ``--instance-kind``. GPU: wait up to 2 ms to fill larger batches, which a GPU runs
#: almost as fast as one text, and pad to multiples of 16. CPU: a batch costs about the sum of its texts, so a
#: long wait only adds latency (0.5 ms still gathers the requests that arrive together), and finer length
#: buckets (8) waste fewer padded tokens. Measured with benchmarks/tuning_sweep.py (docs/performance.md).
DEFAULT_BATCHING: dict[str, BatchingSettings] = {
    "gpu": BatchingSettings(),
    "cpu": BatchingSettings(max_queue_delay_us=500, pad_to_multiple_of=8),
}

#: Model instances per device, per ``--instance-kind``. CPU: one more single-threaded instance than the 2 cores
#: of the development machine, so a core whose instance is handing a batch over (Triton, the ensemble, the stub
#: transport) runs another's batch instead of idling: INT8 MiniLM short texts served at c16 224–229 → 241–266
#: texts/s, fp32 unchanged (docs/performance.md). On a host of C cores use ``--instance-count`` C + 1.
DEFAULT_INSTANCE_COUNT: dict[str, int] = {"gpu": 1, "cpu": 3}

#: Intra-op threads per instance, per ``--instance-kind`` (``None``: the backend's default, all cores per
#: instance). CPU: one thread each, so instances never fight over cores (on the 2-core development machine two
#: single-threaded sessions are the best in-process layout); see :data:`DEFAULT_INSTANCE_COUNT` for the count.
DEFAULT_THREADS_PER_INSTANCE: dict[str, int | None] = {"gpu": None, "cpu": 1}


@dataclass(frozen=True)
class QueuePolicy:
    """How each model's dynamic batcher sheds load beyond capacity (Triton's ``default_queue_policy``).

    Refused requests get UNAVAILABLE (HTTP 503) at once, which clients retry with backoff, while the
    accepted ones keep a bounded latency. Defaults measured with ``python -m benchmarks.reliability``
    (docs/reliability.md).

    Attributes:
        max_queue_size: Requests that may wait for each model; one more is refused. 0: no limit.
        timeout_ms: A request that waited this long is refused; 0: no limit. A request may ask for another
            timeout of its own (``allow_timeout_override``).
    """

    max_queue_size: int = 64
    timeout_ms: int = 1000


@dataclass(frozen=True)
class Acceleration:
    """Optimisations of the exported graphs, each behind an accuracy gate.

    Attributes:
        optimize: ONNX Runtime transformer fusions (attention, layer norm, GELU) for the instance kind.
        fp16: Half-precision weights and compute (GPU targets); public inputs stay INT64, outputs FP32.
        quantize: ``int8``: dynamic INT8 quantization of MatMul weights, per channel (CPU targets).
        tensorrt: Serve the ONNX model through ONNX Runtime's TensorRT accelerator.
        tensorrt_precision: TensorRT precision, ``FP16`` or ``FP32``.
        tensorrt_workspace_mb: TensorRT builder workspace.
        tensorrt_cache_path: Where TensorRT keeps built engines, as the server sees it; inside the model
            folder in the container when ``None``.
    """

    optimize: bool = False
    fp16: bool = False
    quantize: Literal["int8"] | None = None
    tensorrt: bool = False
    tensorrt_precision: Literal["FP16", "FP32"] = "FP16"
    tensorrt_workspace_mb: int = 1024
    tensorrt_cache_path: str | None = None


@dataclass(frozen=True)
class ExportSettings:
    """Everything one export needs.

    Attributes:
        model: Hub id or local folder; ``None`` is the bundled all-MiniLM-L6-v2.
        repository: Triton model repository to write into.
        name: Base name of the models; derived from the model id when ``None``.
        task: Overrides the task detected from the model folder.
        formats: Artifacts to export.
        ensemble_format: Artifact the ensemble calls; the first of ``formats`` when ``None``.
        revision: Hub revision (branch, tag or commit).
        trust_remote_code: Allow custom model code from the hub.
        batching: Dynamic batching and padding settings; ``None`` takes :data:`DEFAULT_BATCHING` of the kind.
        queue: Load shedding of every batched model's queue.
        instance_kind: Where Triton runs the model instances.
        instance_count: Instances per device; ``None`` takes :data:`DEFAULT_INSTANCE_COUNT` of the kind.
        threads_per_instance: Intra-op threads of each instance's runtime (ONNX Runtime / libtorch); ``None``
            takes :data:`DEFAULT_THREADS_PER_INSTANCE` of the kind; 0 leaves the backend's default (all cores
            per instance).
        tokenizer_instance_count: Instances of the Python-backend tokenizer model (CPU).
        tokenizer_queue_delay_us: Dynamic batcher delay of the tokenizer model; short, since it only gathers
            requests that already wait.
        version: Version folder to write; the next free one when ``None``.
        force: Replace an existing version (``version``, or the newest when ``version`` is ``None``).
        acceleration: Graph optimisations, precision and TensorRT.
        gates: Accuracy thresholds that override each variant's defaults.
        opset: ONNX opset.
        triton_release: NGC release of the target Triton container.
        release_check: Also verify the ONNX model in the ONNX Runtime version of ``triton_release``.
        torchscript_release_check: Also load and verify the TorchScript model in the PyTorch of
            ``triton_release`` (a one-time install of 3–5 GB into the cache, unless this environment's torch is
            that release).
        truncate_dim: Cut sentence embeddings to this many dimensions (Matryoshka), renormalised when the
            model normalises; ``None`` keeps the folder's ``truncate_dim`` or the full width.
        aggregation_strategy: How token classes become entities (transformers' pipeline strategies).
        sparse_top_k: (index, weight) pairs served per text by a sparse embedding model.
        serving: ``one-step`` or ``ensemble``; ``None`` takes the rule of :func:`export.serving.choose_serving`
            (one-step for CPU ONNX exports whose ensemble would be exactly tokenizer → model).
        load_check: Before the models are swapped in, load them in the local Triton (when installed) and send
            the verification texts through the ensemble (:mod:`export.load_check`).
    """

    model: str | None = None
    repository: Path = Path("model_repository")
    name: str | None = None
    task: Task | None = None
    formats: tuple[Format, ...] = ("onnx",)
    ensemble_format: Format | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    batching: BatchingSettings = None  # type: ignore[assignment]  # filled in __post_init__
    queue: QueuePolicy = field(default_factory=QueuePolicy)
    instance_kind: InstanceKind = "gpu"
    instance_count: int = None  # type: ignore[assignment]  # filled in __post_init__
    threads_per_instance: int | None = None
    tokenizer_instance_count: int = 1
    tokenizer_queue_delay_us: int = 100
    version: int | None = None
    force: bool = False
    acceleration: Acceleration = field(default_factory=Acceleration)
    gates: GateOverrides = field(default_factory=GateOverrides)
    opset: int = DEFAULT_OPSET
    triton_release: str = DEFAULT_TRITON_RELEASE
    release_check: bool = True
    torchscript_release_check: bool = True
    truncate_dim: int | None = None
    aggregation_strategy: str = "simple"
    sparse_top_k: int = DEFAULT_SPARSE_TOP_K
    load_check: bool = True
    serving: Serving | None = None

    def __post_init__(self) -> None:
        """Fill batching and instance count left unset with the defaults of the instance kind."""
        if self.batching is None:
            object.__setattr__(self, "batching", DEFAULT_BATCHING[self.instance_kind])
        if self.instance_count is None:
            object.__setattr__(self, "instance_count", DEFAULT_INSTANCE_COUNT[self.instance_kind])
        if self.threads_per_instance is None:
            object.__setattr__(self, "threads_per_instance", DEFAULT_THREADS_PER_INSTANCE[self.instance_kind])
        elif self.threads_per_instance == 0:
            object.__setattr__(self, "threads_per_instance", None)
