"""Make transformers models traceable: attention masks built by broadcasting instead of ``torch.vmap``.

transformers builds custom attention masks (sliding windows, bidirectional overlays such as Gemma3's) with
``torch.vmap``, which neither ``torch.jit.trace`` nor the TorchScript-based ONNX exporter can record. Every
mask function transformers ships is index based, so broadcasting the indices builds the same mask; this is
the patch optimum-onnx applies (``optimum/exporters/onnx/model_patcher.py``). The exported graph is verified
against the unpatched eager model afterwards, so a mask that differed could not pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext


def _broadcast_expansion(mask_function: Callable) -> Callable:
    """The mask over all ``(batch, head, q, kv)`` index combinations, by broadcasting."""
    from transformers.masking_utils import _non_vmap_expansion_sdpa

    def expanded(batch, head, q, kv):  # noqa: ANN001, ANN202 - same signature as the vmapped function
        mask = mask_function(*_non_vmap_expansion_sdpa(batch, head, q, kv))
        return mask.expand(batch.shape[0], head.shape[0], q.shape[0], kv.shape[0])

    return expanded


@contextmanager
def traceable_masks() -> Iterator[None]:
    """Within the block, transformers' attention masks are built without ``torch.vmap``."""
    try:
        from transformers import masking_utils
    except ImportError:  # older transformers: no vmap-based masks
        yield
        return
    patches = {"_vmap_expansion_sdpa": _broadcast_expansion, "TransformGetItemToIndex": nullcontext}
    originals = {name: getattr(masking_utils, name) for name in patches if hasattr(masking_utils, name)}
    for name in originals:
        setattr(masking_utils, name, patches[name])
    try:
        yield
    finally:
        for name, value in originals.items():
            setattr(masking_utils, name, value)


def first_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {line}" if line else type(error).__name__
