"""Trace a head module to TorchScript for Triton's libtorch backend."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from export.errors import ExportFailedError
from export.signature import Signature

TORCHSCRIPT_FILENAME = "model.pt"


def export_torchscript(head: torch.nn.Module, signature: Signature, example: dict, folder: Path) -> Path:
    """Trace ``head`` on ``example`` and save ``folder/model.pt``.

    The traced ``forward`` keeps the argument names of the signature's inputs, which the libtorch backend
    matches with the config's input names; outputs are positional (``<name>__<index>`` in the config).
    """
    path = folder / TORCHSCRIPT_FILENAME
    args = tuple(torch.from_numpy(example[name]) for name in signature.input_names)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(head, args, check_trace=False, strict=False)
        traced.save(str(path))
    except Exception as error:
        raise ExportFailedError(f"TorchScript export failed: {error}") from error
    return path
