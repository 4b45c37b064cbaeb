"""The in-process ceiling: the best this machine does on a model.onnx with any sessions × threads × batch size.

Each layout runs ``sessions`` ONNX Runtime sessions of ``threads`` intra-op threads side by side, one Python
thread each (ONNX Runtime and the tokenizers library release the GIL), over one shared queue of batches taken
in corpus order, tokenized and padded exactly as the served tokenizer model pads a request. The best layout is
the ceiling a server can be held to; a run on length-sorted texts is the bound for bulk jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.machine import cpu_count
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.tokenizer_encoding import TextEncoder
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model

#: Texts per run tried for every layout.
DEFAULT_BATCH_SIZES = (1, 4, 8, 16)


def encoder_for(repository: Path, name: str) -> TextEncoder:
    """The served tokenizer's encoder, built from its own config and tokenizer.json (the tokenizer model's, or
    the one-step model's when the export has no tokenizer model)."""
    tokenizer = repository / ModelNames(name).tokenizer
    return load_tokenizer_model(tokenizer if tokenizer.is_dir() else repository / ModelNames(name).ensemble)


def default_layouts(cores: int | None = None) -> tuple[tuple[int, int], ...]:
    """(sessions, threads per session) that use all ``cores``, and one single-threaded session.

    On 2 cores: 1×1, 1×2 and 2×1.
    """
    cores = cores or cpu_count()
    layouts = {(1, cores), (cores, 1), (1, 1)}
    layouts |= {(s, cores // s) for s in range(2, cores) if cores % s == 0}
    return tuple(sorted(layouts))


@dataclass(frozen=True)
class LayoutResult:
    """Throughput of one layout and batch size.

    Attributes:
        sessions: ONNX Runtime sessions run side by side.
        threads: Intra-op threads of each session.
        batch_size: Texts per run.
        texts_per_s: Texts per second, tokenization included (best of the repeats).
        sorted_by_length: Texts were sorted by length first (the bulk bound).
    """

    sessions: int
    threads: int
    batch_size: int
    texts_per_s: float
    sorted_by_length: bool = False

    @property
    def label(self) -> str:
        """``2 sessions × 1 thread, batch 8`` (``, sorted`` for the bulk bound)."""
        sessions = f"{self.sessions} session{'s' if self.sessions > 1 else ''}"
        threads = f"{self.threads} thread{'s' if self.threads > 1 else ''}"
        return f"{sessions} × {threads}, batch {self.batch_size}" + (", sorted" if self.sorted_by_length else "")


def measure_layout(model: Path, encoder: TextEncoder, texts: Sequence[str], sessions: int, threads: int,
                   batch_size: int, repeats: int = 2, sorted_by_length: bool = False) -> LayoutResult:
    """Run every text once per repeat through ``sessions`` parallel sessions; keep the fastest repeat."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    runners = [ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"]) for _ in range(sessions)]
    names = [i.name for i in runners[0].get_inputs()]
    ordered = sorted(texts, key=lambda t: len(encoder.tokenizer.encode(t).ids)) if sorted_by_length else list(texts)
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    for runner in runners:  # warm up every session on the longest batch shape it will see
        arrays = encoder.encode(max(batches, key=lambda b: max(len(t) for t in b)))
        runner.run(None, {n: arrays[n] for n in names})
    best = min(_run_once(runners, names, encoder, batches) for _ in range(repeats))
    return LayoutResult(sessions, threads, batch_size, len(texts) / best, sorted_by_length)


def _run_once(runners: Sequence[object], names: list[str], encoder: TextEncoder,
              batches: Sequence[Sequence[str]]) -> float:
    """Seconds for every batch once, each runner taking the next batch from one shared queue."""
    pending = iter(range(len(batches)))
    lock = threading.Lock()

    def work(runner: object) -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            arrays = encoder.encode(list(batches[index]))
            runner.run(None, {n: arrays[n] for n in names})

    workers = [threading.Thread(target=work, args=(runner,)) for runner in runners]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def sweep(model: Path, encoder: TextEncoder, texts: Sequence[str],
          layouts: Sequence[tuple[int, int]] | None = None, batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
          repeats: int = 2, bulk_batch_size: int = 16) -> list[LayoutResult]:
    """Every layout at every batch size in corpus order, then the best layout on length-sorted texts."""
    results = [measure_layout(model, encoder, texts, sessions, threads, batch, repeats)
               for sessions, threads in (layouts or default_layouts()) for batch in batch_sizes]
    if bulk_batch_size:
        best = max(results, key=lambda r: r.texts_per_s)
        results.append(measure_layout(model, encoder, texts, best.sessions, best.threads, bulk_batch_size, repeats,
                                      sorted_by_length=True))
    return results


def ceiling(results: Sequence[LayoutResult]) -> LayoutResult:
    """The best layout with texts in corpus order: what a server receiving them one by one is held to."""
    return max((r for r in results if not r.sorted_by_length), key=lambda r: r.texts_per_s)


def bulk_bound(results: Sequence[LayoutResult]) -> LayoutResult | None:
    """The length-sorted run, when measured: what a bulk job that sees all its texts can reach."""
    return next((r for r in results if r.sorted_by_length), None)
