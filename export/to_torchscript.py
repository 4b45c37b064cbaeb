"""Trace a head module to TorchScript for Triton's libtorch backend."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from export.errors import ExportFailedError
from export.signature import Signature

TORCHSCRIPT_FILENAME = "model.pt"


class FloatOutputs(torch.nn.Module):
    """Runs a half-precision head and returns FP32 outputs, so the public interface keeps its dtypes."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Return the head's outputs as FP32."""
        outputs = self.head(input_ids, attention_mask, token_type_ids)
        if isinstance(outputs, tuple):
            return tuple(output.float() for output in outputs)
        return outputs.float()


def export_torchscript(head: torch.nn.Module, signature: Signature, example: dict, folder: Path,
                       fp16: bool = False) -> Path:
    """Trace ``head`` on ``example`` and save ``folder/model.pt``.

    The traced ``forward`` keeps the argument names of the signature's inputs, which the libtorch backend
    matches with the config's input names; outputs are positional (``<name>__<index>`` in the config).
    With ``fp16`` the weights and compute are half precision; inputs stay INT64 and outputs FP32.
    """
    path = folder / TORCHSCRIPT_FILENAME
    args = tuple(torch.from_numpy(example[name]) for name in signature.input_names)
    module = FloatOutputs(copy.deepcopy(head).half()).eval() if fp16 else head
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, args, check_trace=False, strict=False)
        traced.save(str(path))
    except Exception as error:
        raise ExportFailedError(f"TorchScript export failed: {error}") from error
    return path
