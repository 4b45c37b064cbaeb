"""In-process ONNX Runtime throughput on an exported model: the ceiling for CPU serving on this machine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from export.triton_config import ModelNames
from tritonize.repo_format.tokenizer_encoding import TextEncoder
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model


@dataclass(frozen=True)
class InProcessResult:
    """Sentences per second at one batch size (texts tokenized and padded as the served tokenizer does)."""

    batch_size: int
    sentences_per_s: float
    seconds: float


def encoder_for(repository: Path, name: str) -> TextEncoder:
    """The served tokenizer model's encoder, built from its own config and tokenizer.json."""
    return load_tokenizer_model(repository / ModelNames(name).tokenizer)


def measure(model_path: Path, encoder: TextEncoder, texts: list[str], batch_sizes: tuple[int, ...] = (1, 8, 32),
            threads: int = 0, repeats: int = 2) -> list[InProcessResult]:
    """Tokenize + run ``texts`` in batches, best of ``repeats``, for each batch size."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    session.run(None, encoder.encode(texts[:8]))  # warm up
    results = []
    for batch_size in batch_sizes:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, len(texts), batch_size):
                arrays = encoder.encode(texts[i:i + batch_size])
                session.run(None, {n: arrays[n] for n in names})
            best = min(best, time.perf_counter() - start)
        results.append(InProcessResult(batch_size, len(texts) / best, best))
    return results

