"""GPU check: export MiniLM with --fp16, verify it on CUDA, and measure fp32 vs fp16 in-process, in one run.

    .venv/bin/python -m benchmarks.gpu_check [--texts 512] [--out benchmarks/results/gpu_check.json]

Needs an NVIDIA GPU with CUDA for ONNX Runtime (onnxruntime-gpu) and torch; without one it says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.inprocess import encoder_for
from client.corpus import corpus
from export.pipeline import run_export
from export.settings import Acceleration, ExportSettings
from export.verify import compare, onnx_runner, torchscript_runner, verification_inputs

CUDA = ("CUDAExecutionProvider", "CPUExecutionProvider")


def cuda_available() -> str | None:
    """Why CUDA cannot be used here, or ``None`` when both torch and ONNX Runtime see a GPU."""
    import onnxruntime as ort
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA device"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "ONNX Runtime has no CUDA execution provider (install onnxruntime-gpu)"
    return None


def throughput(run, batches: list[dict[str, np.ndarray]], repeats: int = 3) -> float:
    """Texts per second, best of ``repeats`` passes over ``batches``, after one warm-up pass."""
    for batch in batches:
        run(batch)
    texts = sum(len(next(iter(b.values()))) for b in batches)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            run(batch)
        best = min(best, time.perf_counter() - start)
    return texts / best


def main() -> int:
    """Run the check; print a table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    parser.add_argument("--cpu", action="store_true", help="Dry run of this script on the CPU (numbers meaningless).")
    args = parser.parse_args()
    reason = None if args.cpu else cuda_available()
    if reason:
        print(f"No GPU check possible here: {reason}.", file=sys.stderr)
        return 2
    import torch

    providers, device = (("CPUExecutionProvider",), "cpu") if args.cpu else (CUDA, "cuda")
    results: dict[str, object] = {"device": "cpu" if args.cpu else torch.cuda.get_device_name(0)}
    with tempfile.TemporaryDirectory() as tmp:
        repos = {}
        for variant, acceleration in (("fp32", Acceleration()), ("fp16", Acceleration(fp16=True, optimize=True))):
            repository = Path(tmp) / variant
            result = run_export(ExportSettings(repository=repository, name="minilm", formats=("onnx", "torchscript"),
                                               instance_kind="gpu", acceleration=acceleration))
            repos[variant] = (repository, result)
        encoder = encoder_for(repos["fp32"][0], "minilm")
        signature = repos["fp32"][1].signature
        texts = corpus(args.texts)
        batches = [encoder.encode(texts[i:i + args.batch_size]) for i in range(0, len(texts), args.batch_size)]
        reference_batches = verification_inputs(encoder)
        fp32_onnx = onnx_runner(repos["fp32"][0] / "minilm_onnx" / "1" / "model.onnx", signature, providers)
        references = [fp32_onnx(b) for b in reference_batches]
        gate = repos["fp16"][1].report.checks[0].gate
        rows = []
        for variant, (repository, _) in repos.items():
            runners = {
                "onnx": onnx_runner(repository / "minilm_onnx" / "1" / "model.onnx", signature, providers),
                "torchscript": torchscript_runner(repository / "minilm_torchscript" / "1" / "model.pt", signature,
                                                  device=device),
            }
            for fmt, run in runners.items():
                (check,) = compare(f"{fmt}@{device}", signature, reference_batches, references,
                                   [run(b) for b in reference_batches], gate)
                rows.append({"variant": variant, "format": fmt, "texts_per_s": throughput(run, batches),
                             "min_cosine_vs_fp32": check.min_cosine, "passed": check.passed})
        results["rows"] = rows
    base = {r["format"]: r["texts_per_s"] for r in rows if r["variant"] == "fp32"}
    print(f"{'variant':<8} {'format':<12} {'texts/s':>9} {'× fp32':>7} {'min cos':>9}  gate")
    for r in rows:
        ratio = r["texts_per_s"] / base[r["format"]]
        print(f"{r['variant']:<8} {r['format']:<12} {r['texts_per_s']:>9.0f} {ratio:>7.2f} "
              f"{r['min_cosine_vs_fp32']:>9.6f}  {'ok' if r['passed'] else 'FAILED'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
