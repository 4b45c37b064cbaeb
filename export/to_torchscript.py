"""Trace a head module to TorchScript for Triton's libtorch backend."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from export.errors import ExportFailedError
from export.signature import Signature
from export.tracing import first_line
from tritonize.repo_format.files import TORCHSCRIPT_FILENAME


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
        follow_input_device(traced)
        traced.save(str(path))
    except Exception as error:
        raise ExportFailedError(f"TorchScript export failed: {first_line(error)}. Nothing was written.") from error
    return path


def follow_input_device(traced: torch.jit.ScriptModule) -> int:
    """Make a traced module run on the device of its inputs; return how many device constants were replaced.

    Tracing records every device the model names (masks built with ``torch.arange(..., device=...)``, ``.to(...)``)
    as a constant, so a model traced on the CPU would fail on a GPU instance. Each such constant becomes
    ``prim::device`` of the method's first tensor argument; parameters follow ``map_location`` when loaded.
    """
    replaced = 0
    for module in traced.modules():
        try:
            graph = module.graph
        except RuntimeError:  # a submodule the trace never called has no forward
            continue
        constants = [node for node in graph.findAllNodes("prim::Constant", True)
                     if node.output().type().kind() == "DeviceObjType"]
        tensors = [value for value in list(graph.inputs())[1:] if value.type().kind() == "TensorType"]
        if not constants or not tensors:
            continue
        device = graph.create("prim::device", [tensors[0]])
        device.output().setType(torch._C.DeviceObjType.get())
        device.insertBefore(next(iter(graph.nodes())))
        for node in constants:
            node.output().replaceAllUsesWith(device.output())
            node.destroy()
            replaced += 1
    return replaced
