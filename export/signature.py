"""Re-exports the contract for imports inside ``export``; it lives in :mod:`tritonize.contract`.

``client``, ``server``, ``deploy`` and ``benchmarks`` import :mod:`tritonize.contract` directly.
"""

from tritonize.contract import (
    BATCH_AXIS,
    ENTITIES_OUTPUT,
    IMAGE_INPUT,
    IMAGE_TASKS,
    LEXICAL_WEIGHTS_OUTPUT,
    MULTI_VECTOR_OUTPUTS,
    NUMPY_DTYPES,
    PAIR_INPUTS,
    PROMPT_NAME_INPUT,
    SEQUENCE_AXIS,
    TEXT_INPUT,
    TOKEN_COUNT,
    TOKEN_INPUT_NAMES,
    TOKEN_SPANS,
    Signature,
    Task,
    TensorSpec,
    image_signature,
    m3_outputs,
    ranking_outputs,
)

__all__ = [
    "BATCH_AXIS", "ENTITIES_OUTPUT", "IMAGE_INPUT", "IMAGE_TASKS", "LEXICAL_WEIGHTS_OUTPUT", "MULTI_VECTOR_OUTPUTS",
    "NUMPY_DTYPES", "PAIR_INPUTS", "PROMPT_NAME_INPUT", "SEQUENCE_AXIS", "TEXT_INPUT", "TOKEN_COUNT",
    "TOKEN_INPUT_NAMES", "TOKEN_SPANS", "Signature", "Task", "TensorSpec", "image_signature", "m3_outputs",
    "ranking_outputs",
]
