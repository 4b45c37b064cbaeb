"""Export a head module to ONNX with dynamic batch and sequence axes."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from export.errors import ExportFailedError, UsageError
from export.settings import EXTERNAL_DATA_THRESHOLD_BYTES
from export.signature import Signature
from export.tracing import first_line
from tritonize.releases import release
from tritonize.repo_format.files import ONNX_FILENAME

EXTERNAL_DATA_FILENAME = f"{ONNX_FILENAME}.data"


def check_opset(opset: int, triton_release: str) -> None:
    """Refuse an unknown or unconfirmed release, or an opset the ONNX Runtime inside ``triton_release`` cannot run."""
    highest = release(triton_release).max_opset
    if opset > highest:
        raise UsageError(
            f"Opset {opset} is too new for the ONNX Runtime in Triton {triton_release} (highest: {highest})."
        )


def export_onnx(head: torch.nn.Module, signature: Signature, example: dict, folder: Path, opset: int) -> Path:
    """Write ``folder/model.onnx`` (plus external data for models over 2 GB) and return its path.

    Uses the TorchScript-based exporter (``dynamo=False``): measured faster to export and to run in ONNX
    Runtime than the dynamo graph for these encoders.
    """
    path = folder / ONNX_FILENAME
    args = tuple(torch.from_numpy(example[name]) for name in signature.input_names)
    dynamic_axes = {spec.name: spec.dynamic_axes() for spec in (*signature.inputs, *signature.outputs)}
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                head, args, str(path), input_names=signature.input_names, output_names=signature.output_names,
                dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True, dynamo=False,
            )
    except Exception as error:
        raise ExportFailedError(f"ONNX export failed: {first_line(error)}. Nothing was written.") from error
    _consolidate_external_data(folder, path)
    return path


def _consolidate_external_data(folder: Path, path: Path) -> None:
    """Keep the graph in one file, or weights of large models in one ``model.onnx.data`` beside it."""
    import onnx

    stray = [p for p in folder.iterdir() if p != path]
    total = sum(p.stat().st_size for p in folder.iterdir())
    if not stray and total < EXTERNAL_DATA_THRESHOLD_BYTES:
        onnx.checker.check_model(str(path))
        return
    model = onnx.load(str(path), load_external_data=True)
    for p in stray:
        p.unlink()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=EXTERNAL_DATA_FILENAME, size_threshold=1024)
    onnx.checker.check_model(str(path))
