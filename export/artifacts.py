"""Export each artifact (ONNX, TorchScript), accelerate it as asked, and verify it against PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from export.gates import Gate, gate_for, variant_name
from export.load_model import LoadedModel, hidden_size
from export.optimize import optimize_onnx
from export.progress import Progress
from export.release_check import run_in_release, run_torchscript_in_release
from export.settings import ExportSettings, Format
from export.signature import Signature
from export.to_onnx import export_onnx
from export.to_torchscript import export_torchscript
from export.tracing import traceable_masks
from export.verify import Check, compare, onnx_runner, torchscript_runner, verify

#: What gets compared of the outputs (a sparse embedding's dense view, else the outputs themselves).
View = Callable[[list], list]


def variant(fmt: Format, settings: ExportSettings) -> str:
    """The variant (``fp32``, ``fp32 fused``, ``fp16``, ``int8``) ``fmt`` is exported as."""
    acceleration = settings.acceleration
    if fmt == "torchscript":
        return variant_name(acceleration.fp16, None, False)
    return variant_name(acceleration.fp16, acceleration.quantize, acceleration.optimize)


def artifact_gate(fmt: Format, settings: ExportSettings, loaded: LoadedModel) -> Gate:
    """The gate ``fmt`` must meet, with the command line's overrides."""
    return gate_for(variant(fmt, settings), loaded.info.task, settings.gates)


def export_and_verify(head: object, loaded: LoadedModel, batches: list[dict], references: list[list], tmp: Path,
                      settings: ExportSettings, progress: Progress, checked: Signature,
                      view: View) -> tuple[dict[Format, Path], list[Check]]:
    """Export every format into ``tmp`` and verify it locally and in the runtime of the target release.

    Returns:
        The artifact of each format, and the checks (failed ones included: the caller decides).
    """
    signature = loaded.signature
    artifacts = {fmt: export_artifact(fmt, head, loaded, batches[2], tmp, settings, progress)
                 for fmt in settings.formats}
    checks: list[Check] = []
    for fmt, path in artifacts.items():
        gate = artifact_gate(fmt, settings, loaded)
        with progress.step(f"Verifying {fmt} ({gate.variant}) on {len(batches)} batches"):
            runner = onnx_runner(path, signature) if fmt == "onnx" else torchscript_runner(path, signature)
            checks.extend(verify(fmt, lambda batch, run=runner: view(run(batch)), checked, batches, references,
                                 gate))
        if fmt == "onnx" and settings.release_check:
            # fp16 graphs are built for the CUDA provider; CPU kernels of older runtimes overflow in fp16,
            # so there the release check proves that the graph loads and runs, not its numbers.
            numbers = not settings.acceleration.fp16
            what = "Verifying" if numbers else "Loading (fp16: numbers need a GPU)"
            with progress.step(f"{what} onnx in the ONNX Runtime of Triton {settings.triton_release}"):
                ort_version, outputs = run_in_release(path, signature.output_names, batches,
                                                      settings.triton_release)
            if numbers:
                checks.extend(compare(f"onnx@ort-{ort_version}", checked, batches, references,
                                      [view(o) for o in outputs], gate))
        if fmt == "torchscript" and settings.torchscript_release_check:
            checks.extend(torchscript_release_checks(path, signature, batches, references, gate, settings,
                                                     progress, checked, view))
    return artifacts, checks


def torchscript_release_checks(path: Path, signature: Signature, batches: list[dict], references: list[list],
                               gate: Gate, settings: ExportSettings, progress: Progress,
                               checked: Signature | None = None, view: View | None = None) -> list[Check]:
    """Load (fp16) or verify (fp32) the TorchScript model in the PyTorch of the target release.

    ``checked`` and ``view`` are what gets compared when it is not the outputs themselves (a sparse embedding's
    dense view), as for the other artifacts.
    """
    # fp16 TorchScript is for CUDA instances; CPU half kernels of older PyTorch are incomplete, so fp16 is
    # only loaded there.
    numbers = not settings.acceleration.fp16
    what = "Verifying" if numbers else "Loading (fp16: numbers need a GPU)"
    with progress.step(f"{what} torchscript in the PyTorch of Triton {settings.triton_release}"):
        version, outputs = run_torchscript_in_release(path, signature.input_names, len(signature.outputs),
                                                      batches if numbers else [], settings.triton_release)
    if not numbers:
        return []
    if view is not None:
        outputs = [view(o) for o in outputs]
    return compare(f"torchscript@torch-{version}", checked or signature, batches, references, outputs, gate)


def export_artifact(fmt: Format, head: object, loaded: LoadedModel, example: dict, tmp: Path,
                    settings: ExportSettings, progress: Progress) -> Path:
    """Export one format into its own folder under ``tmp``, accelerated as the settings ask."""
    folder = tmp / fmt
    folder.mkdir()
    signature, acceleration = loaded.signature, settings.acceleration
    with progress.step(f"Exporting {fmt}"), traceable_masks():
        if fmt == "torchscript":
            return export_torchscript(head, signature, example, folder, fp16=acceleration.fp16)
        path = export_onnx(head, signature, example, folder, settings.opset)
    if not (acceleration.optimize or acceleration.fp16 or acceleration.quantize):
        return path
    name = variant(fmt, settings)
    accelerated = tmp / f"{fmt}-{name.replace(' ', '-')}"
    accelerated.mkdir()
    with progress.step(f"Optimising onnx ({name})"):
        config = loaded.model.config
        heads = getattr(config, "num_attention_heads", None) or getattr(config, "num_heads", 0)
        return optimize_onnx(path, accelerated, acceleration, heads, hidden_size(config),
                             use_gpu=settings.instance_kind == "gpu")
