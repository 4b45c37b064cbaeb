"""Serving knobs the benchmark varies: exporter options, plus a ragged-batch experiment the exporter never writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import click

from export.settings import BATCHING_FIELDS, DEFAULT_BATCHING, BatchingSettings
from tritonize.repo_format.files import CONFIG_FILENAME
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.pbtxt import parse, render


@dataclass(frozen=True)
class Tuning:
    """Serving settings to measure; ``None`` keeps what the exporter writes by default.

    Attributes:
        pad_to_multiple_of: Tokenizer length buckets (``--pad-to-multiple-of``).
        max_queue_delay_us: Dynamic batcher delay of the ONNX model (``--max-queue-delay-us``).
        preferred_batch_sizes: Dynamic batcher targets of the ONNX model (``--preferred-batch-size``).
        instance_count: ONNX model instances (``--instance-count``).
        threads_per_instance: ONNX Runtime threads per instance (``--threads-per-instance``).
        tokenizer_instance_count: Instances of the tokenizer model (``--tokenizer-instance-count``).
        tokenizer_queue_delay_us: Dynamic batcher delay of the tokenizer model.
        ragged: Let the ONNX model's batcher merge requests of different lengths (``allow_ragged_batch``
            on its inputs; the local server's adapter pads them itself).
    """

    pad_to_multiple_of: int | None = None
    max_queue_delay_us: int | None = None
    preferred_batch_sizes: tuple[int, ...] | None = None
    instance_count: int | None = None
    threads_per_instance: int | None = None
    tokenizer_instance_count: int | None = None
    tokenizer_queue_delay_us: int | None = None
    ragged: bool | None = None

    @staticmethod
    def click_options(command: Callable) -> Callable:
        """Click options for every knob (``--pad-to-multiple-of`` ...); unset ones keep the exporter's defaults."""
        for spec in reversed(fields(Tuning)):
            flag = "--" + spec.name.replace("_", "-")
            if spec.name == "preferred_batch_sizes":
                option = click.option("--preferred-batch-size", spec.name, type=int, multiple=True)
            elif spec.name == "ragged":
                option = click.option(f"{flag}/--no-{flag[2:]}", spec.name, default=None)
            else:
                option = click.option(flag, spec.name, type=int)
            command = option(command)
        return command

    @classmethod
    def from_options(cls, options: dict[str, object]) -> Tuning:
        """The knobs among Click's ``options`` (see :meth:`click_options`)."""
        values = {spec.name: options.pop(spec.name, None) for spec in fields(cls)}
        values["preferred_batch_sizes"] = tuple(values["preferred_batch_sizes"] or ()) or None
        return cls(**values)

    def changed(self) -> dict[str, object]:
        """The knobs that are set, for reports."""
        return {spec.name: getattr(self, spec.name) for spec in fields(self) if getattr(self, spec.name) is not None}


def batching_settings(tuning: Tuning) -> BatchingSettings:
    """The exporter's batching defaults with the knobs of ``tuning`` that it exposes."""
    return replace(DEFAULT_BATCHING["cpu"], **_batching_changes(tuning))


def defaulted_batching(tuning: Tuning) -> frozenset[str]:
    """The batching fields ``tuning`` leaves at the exporter's defaults (``ExportSettings.defaulted``), so the
    exporter may still choose them per path (a one-step model's length buckets)."""
    return frozenset(BATCHING_FIELDS) - _batching_changes(tuning).keys()


def _batching_changes(tuning: Tuning) -> dict[str, object]:
    """The knobs of ``tuning`` that are set and are ``BatchingSettings`` fields of the same name."""
    names = ("pad_to_multiple_of", "max_queue_delay_us", "preferred_batch_sizes")
    return {name: getattr(tuning, name) for name in names if getattr(tuning, name) is not None}


def export_knobs(tuning: Tuning) -> dict[str, int]:
    """The knobs of ``tuning`` that are ``ExportSettings`` fields of the same name (exporter options)."""
    names = ("threads_per_instance", "tokenizer_instance_count", "tokenizer_queue_delay_us")
    return {name: getattr(tuning, name) for name in names if getattr(tuning, name) is not None}


def apply_tuning(repository: Path, names: ModelNames, tuning: Tuning) -> None:
    """Write the one experiment the exporter does not offer into the ONNX model's config: ragged batches.

    Neither Triton's onnxruntime backend nor the local adapters merge requests of different lengths, so
    ``ragged`` only marks the inputs; it measures nothing production would do.
    """
    if tuning.ragged is None:
        return
    artifact = repository / names.artifact("onnx") / CONFIG_FILENAME
    config = parse(artifact.read_text())
    for tensor in config.input:
        tensor.allow_ragged_batch = tuning.ragged
    artifact.write_text(render(config))
