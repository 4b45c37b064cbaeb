"""GPU check: export MiniLM with --fp16, verify it on CUDA, and measure fp32 vs fp16 in-process, in one run.

    .venv/bin/python -m benchmarks.gpu_check [--model DIR] [--text-count 512] [-b 1 -b 8 -b 32 -b 128]

Exports the model twice for ``--instance-kind gpu`` (fp32, and ``--fp16 --optimize``), in both formats, then
runs every artifact on the GPU: TorchScript with torch on CUDA, ONNX with ONNX Runtime's CUDA provider when
the installed ONNX Runtime has one (otherwise the ONNX files are verified on the CPU and not timed, and the
table says so). Each artifact is checked against the fp32 ONNX model with the fp16 gate and timed on the
same real sentences at each batch size (texts padded to the served length bucket). Prints a table; writes
JSON. Without a CUDA device for torch it says so and exits 2; ``--cpu`` dry-runs the script on the CPU.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from benchmarks.inprocess import encoder_for
from client.corpus import corpus
from export.pipeline import run_export
from export.settings import Acceleration, ExportSettings
from export.verify import compare, onnx_runner, torchscript_runner, verification_inputs

CUDA = ("CUDAExecutionProvider", "CPUExecutionProvider")
CPU = ("CPUExecutionProvider",)
VARIANTS = {"fp32": Acceleration(), "fp16": Acceleration(fp16=True, optimize=True)}


def onnx_providers() -> tuple[str, ...] | None:
    """ONNX Runtime's CUDA providers, or ``None`` when the installed ONNX Runtime has no CUDA provider."""
    import onnxruntime as ort

    return CUDA if "CUDAExecutionProvider" in ort.get_available_providers() else None


def throughput(run: Callable[[dict[str, np.ndarray]], object], batches: list[dict[str, np.ndarray]],
               repeats: int = 5, warmups: int = 3) -> float:
    """Texts per second, best of ``repeats`` passes over ``batches``, after ``warmups`` passes.

    Every call returns host arrays, so each pass includes the copies and the device synchronisation. Several
    warm-up passes let TorchScript's profiling executor specialise each padded shape before timing, as a
    served model does after its first requests.
    """
    for _ in range(warmups):
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


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--model", help="Model folder [default: the bundled all-MiniLM-L6-v2].")
@click.option("--text-count", type=click.IntRange(min=1), default=512, help="Real sentences to time.")
@click.option("--batch-size", "-b", "batch_sizes", type=click.IntRange(min=1), multiple=True,
              default=(1, 8, 32, 128), help="Batch size to time; repeat for several.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("benchmarks/results/gpu_check.json"), help="Where the JSON goes.")
@click.option("--skip-release-check", is_flag=True,
              help="Skip the check in the target release's ONNX Runtime (it needs pip and a network).")
@click.option("--cpu", is_flag=True, help="Dry run of this script on the CPU (numbers meaningless).")
@click.pass_context
def main(ctx: click.Context, model: str | None, text_count: int, batch_sizes: tuple[int, ...], output: Path,
         skip_release_check: bool, cpu: bool) -> None:
    """Run the check; print a table; write JSON (exit 1 when a check fails, 2 without a GPU)."""
    import torch

    if not cpu and not torch.cuda.is_available():
        click.echo("No GPU check possible here: torch sees no CUDA device.", err=True)
        ctx.exit(2)
    device = "cpu" if cpu else "cuda"
    providers = CPU if cpu else onnx_providers()
    results: dict[str, object] = {
        "device": "cpu" if cpu else torch.cuda.get_device_name(0), "torch": torch.__version__,
        "onnx_providers": list(providers or ()),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repos = {}
        for variant, acceleration in VARIANTS.items():
            started = time.perf_counter()
            repository = Path(tmp) / variant
            result = run_export(ExportSettings(model=model, repository=repository, name="minilm",
                                               formats=("onnx", "torchscript"), instance_kind="gpu",
                                               acceleration=acceleration, release_check=not skip_release_check))
            repos[variant] = (repository, result)
            print(f"exported {variant} in {time.perf_counter() - started:.1f} s; export's own checks: "
                  + ", ".join(f"{c.artifact} min cos {c.min_cosine:.6f}" for c in result.report.checks
                              if c.min_cosine is not None), file=sys.stderr, flush=True)
        encoder = encoder_for(repos["fp32"][0], "minilm")
        signature = repos["fp32"][1].signature
        texts = corpus(text_count)
        reference_batches = verification_inputs(encoder)
        references = [onnx_runner(repos["fp32"][0] / "minilm_onnx" / "1" / "model.onnx", signature)(b)
                      for b in reference_batches]
        gate = repos["fp16"][1].report.checks[0].gate
        for variant, (repository, _) in repos.items():
            runners = {"torchscript": (torchscript_runner(repository / "minilm_torchscript" / "1" / "model.pt",
                                                          signature, device=device), device)}
            onnx_file = repository / "minilm_onnx" / "1" / "model.onnx"
            onnx_where = "cuda" if providers == CUDA else "cpu"
            runners["onnx"] = (onnx_runner(onnx_file, signature, providers or CPU), onnx_where)
            for fmt, (run, where) in runners.items():
                (check,) = compare(f"{fmt}@{where}", signature, reference_batches, references,
                                   [run(b) for b in reference_batches], gate)
                for size in batch_sizes:
                    timed = where == device
                    batches = [encoder.encode(texts[i:i + size]) for i in range(0, len(texts), size)]
                    rows.append({"variant": variant, "format": fmt, "runs_on": where, "batch_size": size,
                                 "texts_per_s": throughput(run, batches) if timed else None,
                                 "min_cosine_vs_fp32": check.min_cosine, "mean_cosine_vs_fp32": check.mean_cosine,
                                 "passed": check.passed})
                    print(f"  {variant} {fmt}@{where} batch {size}: "
                          f"{rows[-1]['texts_per_s'] or 0:.0f} texts/s", file=sys.stderr, flush=True)
    results["rows"] = rows
    base = {(r["format"], r["batch_size"]): r["texts_per_s"] for r in rows if r["variant"] == "fp32"}
    print(f"device: {results['device']}, torch {results['torch']}, ONNX Runtime providers: "
          f"{', '.join(results['onnx_providers']) or 'no CUDA provider (ONNX verified on CPU, not timed)'}")
    print(f"{'variant':<8} {'format':<12} {'runs on':<8} {'batch':>5} {'texts/s':>9} {'× fp32':>7} "
          f"{'min cos':>9}  gate")
    for r in rows:
        speed, fp32 = r["texts_per_s"], base[(r["format"], r["batch_size"])]
        print(f"{r['variant']:<8} {r['format']:<12} {r['runs_on']:<8} {r['batch_size']:>5} "
              f"{f'{speed:.0f}' if speed else '–':>9} {f'{speed / fp32:.2f}' if speed and fp32 else '–':>7} "
              f"{r['min_cosine_vs_fp32']:>9.6f}  {'ok' if r['passed'] else 'FAILED'}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    ctx.exit(0 if all(r["passed"] for r in rows) else 1)


if __name__ == "__main__":
    main()
