"""Refuse settings that contradict each other before any work starts."""

from __future__ import annotations

from export.errors import UsageError
from export.settings import ExportSettings, Format
from export.to_onnx import check_opset


def validate(settings: ExportSettings) -> Format:
    """Check the settings; return the format the ensemble calls.

    Raises:
        UsageError: The settings ask for something impossible (exit code 2).
    """
    if not settings.formats:
        raise UsageError("Choose at least one --format.")
    ensemble_format = settings.ensemble_format or settings.formats[0]
    if ensemble_format not in settings.formats:
        raise UsageError(f"--ensemble-format {ensemble_format} is not among the exported formats.")
    if settings.batching.max_batch_size < 0 or settings.instance_count < 1 or settings.batching.pad_to_multiple_of < 1:
        raise UsageError("--max-batch-size must be ≥ 0, --instance-count and --pad-to-multiple-of ≥ 1.")
    if "onnx" in settings.formats:
        check_opset(settings.opset, settings.triton_release)
    acceleration = settings.acceleration
    if acceleration.quantize and acceleration.fp16:
        raise UsageError("--quantize int8 and --fp16 exclude each other: INT8 is for CPU, fp16 for GPU instances.")
    if acceleration.quantize and settings.instance_kind != "cpu":
        raise UsageError("--quantize int8 targets CPU instances: add --instance-kind cpu.")
    if acceleration.quantize and "onnx" not in settings.formats:
        raise UsageError("--quantize int8 applies to the ONNX export: add --format onnx.")
    if acceleration.fp16 and settings.instance_kind != "gpu":
        raise UsageError("--fp16 targets GPU instances: use --instance-kind gpu (int8 is the CPU option).")
    if acceleration.tensorrt and (settings.instance_kind != "gpu" or "onnx" not in settings.formats):
        raise UsageError("--tensorrt needs --instance-kind gpu and --format onnx.")
    return ensemble_format
