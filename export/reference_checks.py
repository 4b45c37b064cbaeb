"""Check PyTorch eager, on the served tokenizer's tokens, against the library that defines the model."""

from __future__ import annotations

from dataclasses import replace

from export.errors import VerificationError
from export.failure import failure_message
from export.gates import GateOverrides, gate_for
from export.load_model import LoadedModel
from export.postprocess_heads import run_head
from export.reference_outputs import compare_with_reference, reference_outputs
from export.served_tokenizer import named_prompts
from export.signature import Task
from export.tasks.library_checks import reference_checks as task_reference_checks
from export.verify import VERIFICATION_BATCHES, VERIFICATION_TEXTS, Report
from tritonize.repo_format.tokenizer_encoding import TextEncoder


def reference_checks(loaded: LoadedModel, encoder: TextEncoder, head: object, batches: list[dict],
                     outputs: list[list], aggregation_strategy: str = "simple") -> list:
    """PyTorch eager (on the served tokenizer's tokens) against the reference library, per prompt.

    Embeddings and classifiers: sentence-transformers or transformers (:mod:`export.reference_outputs`); the default
    prompt applies to ``batches`` and each named prompt is checked on all texts in one more batch. Rerankers,
    sparse encoders and entities: CrossEncoder, SparseEncoder and transformers' pipeline
    (:mod:`export.tasks.library_checks`).

    Raises:
        VerificationError: PyTorch eager misses the fp32 gate against the reference (its numbers in one line).
    """
    texts = list(VERIFICATION_TEXTS)
    gate = gate_for("fp32", loaded.info.task, GateOverrides())
    checks = task_reference_checks(loaded, batches, outputs, encoder, gate, aggregation_strategy)
    if loaded.info.task not in (Task.TEXT_RANKING, Task.SPARSE_EMBEDDING):
        reference = reference_outputs(loaded, texts)
        checks += compare_with_reference(reference, loaded.signature, batches,
                                         [list(b) for b in VERIFICATION_BATCHES], outputs, gate)
        for name in named_prompts(loaded):
            batch = encoder.encode(texts, name)
            named = reference_outputs(loaded, texts, name)
            result = compare_with_reference(named, loaded.signature, [batch], [list(range(len(texts)))],
                                            [run_head(head, batch, loaded.signature.input_names)], gate)
            checks += [replace(check, artifact=f"{check.artifact} {name}"[:30]) for check in result]
    if not all(check.passed for check in checks):
        raise VerificationError(failure_message(Report(tuple(checks))), Report(tuple(checks)))
    return checks
