"""What the server says about its models, as small frozen records read from configs and the repository index."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tritonclient.grpc import model_config_pb2 as mc

from tritonize.contract import TOKEN_COUNT, TensorSpec
from tritonize.repo_format.platforms import libtorch_base_name
from tritonize.repo_format.tokenizer_folder import is_one_step

READY = "READY"
ENSEMBLE_PLATFORM = "ensemble"
#: Among several labelled outputs, the one whose scores are reported (else the last labelled output).
PREFERRED_SCORE_OUTPUT = "probabilities"


@dataclass(frozen=True)
class RepositoryEntry:
    """One model of the repository index.

    Attributes:
        name: Model name.
        version: Version Triton tried to load (empty when it never tried, e.g. an ensemble whose steps failed).
        state: ``READY``, ``LOADING``, ``UNAVAILABLE``, ... (empty when never loaded).
        reason: Why the model is not ready, as Triton says it.
    """

    name: str
    version: str = ""
    state: str = ""
    reason: str = ""

    @property
    def ready(self) -> bool:
        """Whether the model serves requests."""
        return self.state == READY

    def describe(self) -> str:
        """``UNAVAILABLE: <reason>``, or ``not loaded`` when Triton reports no state."""
        state = self.state or "not loaded"
        return f"{state}: {self.first_reason_line}" if self.reason else state

    @property
    def first_reason_line(self) -> str:
        """The reason's first line (Python-backend reasons carry a traceback after it)."""
        return self.reason.strip().splitlines()[0] if self.reason.strip() else ""

    @classmethod
    def from_index(cls, items: Iterable[Mapping[str, str]]) -> list[RepositoryEntry]:
        """Entries from the index as either protocol returns it, sorted by name and version."""
        entries = [cls(name=item["name"], version=str(item.get("version", "")), state=item.get("state", ""),
                       reason=item.get("reason", "")) for item in items]
        return sorted(entries, key=lambda e: (e.name, e.version))


@dataclass(frozen=True)
class ModelInterface:
    """The tensors of one model as its config states them.

    Attributes:
        name: Model name.
        platform: Triton platform (``ensemble``, ``onnxruntime_onnx``) or backend (``python``).
        max_batch_size: Largest batch per request; 0 when the model does not batch.
        inputs: Required input tensors, in config order (dims without the batch dimension when batching);
            optional ones (a prompted model's ``PROMPT_NAME``) are left out: the model's default applies.
        outputs: Output tensors; ``labelled`` when the config names a label file. A one-step model's optional
            ``token_count`` (the gateway's usage, not a prediction) is left out: clients request what they show.
        one_step: A one-step model (tokenizer and model in one Python-backend step): called as an ensemble is.
    """

    name: str
    platform: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    one_step: bool = False

    @classmethod
    def from_config(cls, config: mc.ModelConfig) -> ModelInterface:
        """Read the interface from a ``ModelConfig``."""
        one_step = is_one_step(config)
        return cls(
            name=config.name,
            platform=config.platform or config.backend,
            max_batch_size=config.max_batch_size,
            inputs=tuple(TensorSpec(t.name, t.data_type, tuple(t.dims)) for t in config.input if not t.optional),
            outputs=tuple(TensorSpec(t.name, t.data_type, tuple(t.dims), labelled=bool(t.label_filename))
                          for t in config.output if not (one_step and t.name == TOKEN_COUNT.name)),
            one_step=one_step,
        )

    @property
    def takes_text(self) -> bool:
        """One string input: texts go in as they are."""
        return len(self.inputs) == 1 and self.inputs[0].dtype == mc.TYPE_STRING

    @property
    def is_entry_model(self) -> bool:
        """A model clients call with raw inputs: an ensemble, or a one-step model."""
        return self.platform == ENSEMBLE_PLATFORM or self.one_step

    @property
    def is_text_ensemble(self) -> bool:
        """An ensemble (or one-step model) that takes text: what ``predict`` picks when no model is named."""
        return self.is_entry_model and self.takes_text

    @property
    def takes_tokens(self) -> bool:
        """Only integer inputs: token tensors that a client-side tokenizer must produce."""
        return bool(self.inputs) and all(t.dtype in (mc.TYPE_INT64, mc.TYPE_INT32) for t in self.inputs)

    def score_output(self) -> TensorSpec | None:
        """The labelled output whose scores are reported: ``probabilities`` if present, else the last labelled."""
        labelled = [t for t in self.outputs if t.labelled]
        preferred = [t for t in labelled if base_name(t.name) == PREFERRED_SCORE_OUTPUT]
        return (preferred or labelled or [None])[-1]


@dataclass(frozen=True)
class Health:
    """Whether the server (and optionally one model) can serve.

    Attributes:
        url: The server's URL.
        live: The server answers its liveness check.
        ready: The server reports ready (with strict readiness: every model is ready).
        model: The model asked about, if any.
        model_ready: Whether that model is ready.
        model_state: The model's state from the repository index (``READY``, ``UNAVAILABLE: <reason>``,
            ``not found``).
        error: Why the server could not be asked (unreachable, timeout).
    """

    url: str
    live: bool = False
    ready: bool = False
    model: str | None = None
    model_ready: bool | None = None
    model_state: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Live, and ready: the model when one was named, else the server."""
        return self.live and (bool(self.model_ready) if self.model else self.ready)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {"ok": self.ok, **asdict(self)}


def base_name(name: str) -> str:
    """A tensor name without libtorch's ``__<index>`` suffix (dropped when matching conventions)."""
    return libtorch_base_name(name)

