"""Typed settings of one export, as the CLI collects them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
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

#: Length buckets of a one-step model (``--serving one-step``, the CPU default) when ``--pad-to-multiple-of`` is
#: not given: none. Its dynamic batcher merges requests into one execute, but texts of different token lengths
#: still run as separate ONNX Runtime calls, so buckets only add padded tokens: the bundled MiniLM, short texts,
#: c16, same machine minutes apart: 260 req/s unpadded vs 245 in buckets of 8; the in-process ceiling 317 vs 265
#: texts/s (benchmarks.peers, docs/performance.md).
ONE_STEP_PAD_TO_MULTIPLE_OF = 1

#: Model instances per device, per ``--instance-kind``. CPU: one more single-threaded instance than the 2 cores
#: of the development machine, so a core whose instance is handing a batch over (Triton, the ensemble, the stub
#: transport) runs another's batch instead of idling: INT8 MiniLM short texts served at c16 224–229 → 241–266
#: texts/s, fp32 unchanged (docs/performance.md). On a host of C cores use ``--instance-count`` C + 1.
DEFAULT_INSTANCE_COUNT: dict[str, int] = {"gpu": 1, "cpu": 3}

#: Intra-op threads per instance, per ``--instance-kind`` (``None``: the backend's default, all cores per
#: instance). CPU: one thread each, so instances never fight over cores (on the 2-core development machine two
#: single-threaded sessions are the best in-process layout); see :data:`DEFAULT_INSTANCE_COUNT` for the count.
DEFAULT_THREADS_PER_INSTANCE: dict[str, int | None] = {"gpu": None, "cpu": 1}

#: Instances of the Python-backend tokenizer model, per ``--instance-kind`` (text exports).
DEFAULT_TOKENIZER_INSTANCE_COUNT: dict[str, int] = {"gpu": 1, "cpu": 1}

# Image exports: every preprocessed image has one shape, so any requests batch together with no padding, but on a CPU
# a ViT batch still costs the sum of its images (in process, ViT-S/16 224²: 47–53 ms per image at batch 1, 4 and 8
# on one thread), so batching gains nothing by itself there: what counts is that both cores run a model at once.
# Measured with benchmarks/image_sweep.py on the 2-core development machine (ViT-S/16, 640×480 JPEG, one per
# request; results in benchmarks/results/images/, docs/images.md "Batching"), on a shared machine at load 3–6:
# c16 throughput moved 2× between rounds of the same candidate, so the quiet rounds decide. A quiet rerun
# (sweep_quiet.md) confirmed them: c16 32.9 img/s = 0.90 of the in-process ceiling, every 3×1 / 2×1 variant within
# 2 %; 1 instance × 2 threads trades c16 (0.79) for c1 latency (p50 37 vs 58 ms).
# GPU: the text defaults, not measured on a GPU here.

#: Batching of image exports, per ``--instance-kind``. CPU: the text values. Candidates 500 / 2000 / 0 µs and
#: max batch 64 / 16 / 8 (or preferred batch 4) served within the noise of each other at c16 (each one's rounds
#: spread 20–80 %), so the shorter delay (less latency: a batch costs the sum of its images) and the largest batch
#: a client may send stay. ``pad_to_multiple_of`` pads no image (only a CLIP text tower, which keeps the
#: text settings).
DEFAULT_IMAGE_BATCHING: dict[str, BatchingSettings] = {"gpu": DEFAULT_BATCHING["gpu"], "cpu": DEFAULT_BATCHING["cpu"]}

#: Model instances of image exports, per ``--instance-kind``. CPU: 3 single-threaded, as for text: in the quiet
#: rounds (in-process ceiling 35–38 img/s) 3×1 served c16 at 32.2 and 35.4 img/s (0.89, 0.95 of an in-process run
#: just before), 2×1 at 32.9 and 33.8 (0.89, 0.91), 2 instances × 2 threads at 29.1 and 28.9, 1×2 at 28.1.
DEFAULT_IMAGE_INSTANCE_COUNT: dict[str, int] = {"gpu": DEFAULT_INSTANCE_COUNT["gpu"], "cpu": 3}

#: Intra-op threads per instance of image exports, per ``--instance-kind``. CPU: 1. Two threads per instance cut
#: c1 latency (p50 36–41 ms vs 55–58 ms in the quiet rounds: one request's ViT runs on both cores) but serve
#: c16 0.8–0.9× as many images; ``--instance-count 2 --threads-per-instance 2`` is that trade (docs/images.md).
DEFAULT_IMAGE_THREADS_PER_INSTANCE: dict[str, int | None] = {"gpu": DEFAULT_THREADS_PER_INSTANCE["gpu"], "cpu": 1}

#: Instances of an image export's Python-backend preprocessing step, per ``--instance-kind``. CPU: 1. Decode +
#: preprocess costs 4.6–4.9 ms per 640×480 JPEG (a tenth of the ViT-S model), so one step instance feeds
#: ~200 img/s; a second one changed nothing outside the noise (c16 34.2 vs 32.2 img/s in one quiet round, the
#: reverse in others). On a GPU the model gets faster and the step may become the limit: raise
#: ``--tokenizer-instance-count`` there.
DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT: dict[str, int] = {
    "gpu": DEFAULT_TOKENIZER_INSTANCE_COUNT["gpu"], "cpu": DEFAULT_TOKENIZER_INSTANCE_COUNT["cpu"]}


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
        tokenizer_instance_count: Instances of the Python-backend tokenizer model (CPU; image exports: the
            preprocessing step); ``None`` takes the kind's default.
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
        defaulted: Serving settings that hold a default rather than the caller's choice: names of
            :class:`BatchingSettings` fields, ``instance_count``, ``threads_per_instance``,
            ``tokenizer_instance_count``. Filled for each one left ``None`` (``batching``: all its fields); a
            caller that builds ``batching`` from some options only names the others. Image exports replace
            these with the image defaults (:func:`image_serving`).
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
    tokenizer_instance_count: int = None  # type: ignore[assignment]  # filled in __post_init__
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
    defaulted: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Fill batching and instance counts left unset with the defaults of the instance kind."""
        filled = set(self.defaulted)
        if self.batching is None:
            object.__setattr__(self, "batching", DEFAULT_BATCHING[self.instance_kind])
            filled.update(BATCHING_FIELDS)
        if self.instance_count is None:
            object.__setattr__(self, "instance_count", DEFAULT_INSTANCE_COUNT[self.instance_kind])
            filled.add("instance_count")
        if self.threads_per_instance is None:
            object.__setattr__(self, "threads_per_instance", DEFAULT_THREADS_PER_INSTANCE[self.instance_kind])
            filled.add("threads_per_instance")
        elif self.threads_per_instance == 0:
            object.__setattr__(self, "threads_per_instance", None)
        if self.tokenizer_instance_count is None:
            object.__setattr__(self, "tokenizer_instance_count", DEFAULT_TOKENIZER_INSTANCE_COUNT[self.instance_kind])
            filled.add("tokenizer_instance_count")
        object.__setattr__(self, "defaulted", frozenset(filled))


#: The :class:`BatchingSettings` fields, as :attr:`ExportSettings.defaulted` names them.
BATCHING_FIELDS: tuple[str, ...] = tuple(spec.name for spec in fields(BatchingSettings))

#: Every serving setting that may hold a kind's default, as :attr:`ExportSettings.defaulted` names them.
SERVING_DEFAULTS: tuple[str, ...] = (*BATCHING_FIELDS, "instance_count", "threads_per_instance",
                                     "tokenizer_instance_count")


def image_serving(settings: ExportSettings) -> ExportSettings:
    """``settings`` with the image defaults of its instance kind wherever it holds a (text) default.

    What the caller chose stays; ``threads_per_instance`` 0 (the backend's default) stays too.
    """
    kind, defaulted = settings.instance_kind, settings.defaulted
    image_batching = DEFAULT_IMAGE_BATCHING[kind]
    batching = replace(settings.batching, **{name: getattr(image_batching, name)
                                             for name in BATCHING_FIELDS if name in defaulted})
    chosen = {"instance_count": DEFAULT_IMAGE_INSTANCE_COUNT[kind],
              "threads_per_instance": DEFAULT_IMAGE_THREADS_PER_INSTANCE[kind] or 0,
              "tokenizer_instance_count": DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT[kind]}
    changes = {name: value for name, value in chosen.items() if name in defaulted}
    if "threads_per_instance" not in changes and settings.threads_per_instance is None:
        changes["threads_per_instance"] = 0  # the caller's 0, which __post_init__ turned into None
    return replace(settings, batching=batching, **changes)
