"""CPU tuning sweep: the serving benchmark once per serving knob, each step against the same starting point.

    .venv/bin/python -m benchmarks.tuning_sweep [--step before --step "cpu defaults"] [--corpus long] [--quick]

Each step exports the bundled MiniLM (fp32, CPU) with one knob changed from the exporter's batching before
tuning (the GPU defaults), measures the in-process ceiling and the served ensemble at c1/c16 (see
``benchmarks.serving``) and records served/ceiling at c16, p50/p99 and the c1 latency. Prints a
before/after table with the ratio of each step to the first; writes ``sweep.json``, ``sweep.md`` and
``sweep.png`` into ``benchmarks/results/tuning-<time>/``. About 75 seconds per step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from benchmarks import serving
from benchmarks import serving_report as report
from benchmarks.tuning import Tuning
from export.settings import DEFAULT_BATCHING, DEFAULT_INSTANCE_COUNT

#: The exporter's batching before this sweep: the GPU defaults (2 ms, buckets of 16, one instance) on the CPU.
BEFORE = Tuning(pad_to_multiple_of=DEFAULT_BATCHING["gpu"].pad_to_multiple_of,
                max_queue_delay_us=DEFAULT_BATCHING["gpu"].max_queue_delay_us,
                instance_count=DEFAULT_INSTANCE_COUNT["gpu"])

#: One knob per step, changed from :data:`BEFORE`; "cpu defaults" is what ``--instance-kind cpu`` writes now.
STEPS: dict[str, Tuning] = {
    "before": BEFORE,
    "delay-0": replace(BEFORE, max_queue_delay_us=0),
    "delay-500": replace(BEFORE, max_queue_delay_us=500),
    "delay-5000": replace(BEFORE, max_queue_delay_us=5000),
    "pad-1": replace(BEFORE, pad_to_multiple_of=1),
    "pad-8": replace(BEFORE, pad_to_multiple_of=8),
    "pad-32": replace(BEFORE, pad_to_multiple_of=32),
    "ragged": replace(BEFORE, ragged=True),
    "pad-1+ragged": replace(BEFORE, pad_to_multiple_of=1, ragged=True),
    "preferred-4-8": replace(BEFORE, preferred_batch_sizes=(4, 8)),
    "2 instances x 1 thread": replace(BEFORE, instance_count=2, threads_per_instance=1),
    "1 instance x 1 thread": replace(BEFORE, threads_per_instance=1),
    "2 tokenizer instances": replace(BEFORE, tokenizer_instance_count=2),
    "2 instances+delay-500": replace(BEFORE, instance_count=2, max_queue_delay_us=500),
    "cpu defaults": Tuning(),
}


def row(step: str, tuning: Tuning, measured: report.CorpusResult) -> dict[str, object]:
    """The numbers of one step: the highest concurrency against the ceiling, and c1 latency."""
    levels = {r.concurrency: r for r in measured.levels}
    low, top = levels[min(levels)], levels[max(levels)]
    return {
        "step": step, "knobs": tuning.changed(), "ceiling": measured.ceiling.texts_per_s,
        "served": top.throughput, "ratio": measured.ratio(top), "p50_ms": top.p50_ms, "p99_ms": top.p99_ms,
        "tail": top.p99_ms / top.p50_ms if top.p50_ms else float("inf"), "c1_throughput": low.throughput,
        "c1_p50_ms": low.p50_ms, "served_by_concurrency": {c: r.throughput for c, r in levels.items()},
        "cpu_busy_before": measured.cpu_busy_before,
    }


def markdown(rows: Sequence[dict[str, object]]) -> str:
    """The before/after table: every step against the first row."""
    base = rows[0]
    lines = ["| step | knobs | in-process (texts/s) | served c16 (infer/s) | served / in-process | × first "
             "| p50 ms | p99 ms | p99 / p50 | c1 p50 ms | c1 infer/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        knobs = ", ".join(f"{k}={v}" for k, v in r["knobs"].items()) or "exporter defaults (cpu)"
        lines.append(f"| {r['step']} | {knobs} | {r['ceiling']:.0f} | {r['served']:.0f} | {r['ratio']:.2f} | "
                     f"{r['served'] / base['served']:.2f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['tail']:.1f} | "
                     f"{r['c1_p50_ms']:.1f} | {r['c1_throughput']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, object]], path: Path) -> None:
    """Served throughput at c16 per step (bars) beside the in-process ceiling of the same run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(7.0, 0.9 * len(rows) + 2), 4.8))
    positions = range(len(rows))
    bars = axes.bar([p - 0.2 for p in positions], [r["served"] for r in rows], 0.4, label="served, c16")
    axes.bar_label(bars, fmt="%.0f", fontsize=7)
    bars = axes.bar([p + 0.2 for p in positions], [r["ceiling"] for r in rows], 0.4, label="in-process ceiling",
                    hatch="//")
    axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(list(positions), [r["step"] for r in rows], rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("texts per second")
    axes.set_title("MiniLM fp32 on the local Triton (CPU): one serving knob per step")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--step", "steps", type=click.Choice(list(STEPS)), multiple=True,
              help="Step to run; repeat for several [default: all].")
@click.option("--corpus", type=click.Choice(list(serving.CORPORA)), default="short", help="Texts to serve.")
@click.option("--quick", is_flag=True, help="Short perf_analyzer windows.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"))
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr; only the table and the result folder.")
def main(steps: tuple[str, ...], corpus: str, quick: bool, output_dir: Path, quiet: bool) -> None:
    """Run the serving benchmark once per serving knob; print the before/after table, write JSON, markdown, PNG."""
    names = list(steps) or list(STEPS)

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    folder = output_dir / time.strftime("tuning-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True)
    rows = []
    for index, name in enumerate(names, 1):
        say(f"step {index}/{len(names)}: {name}")
        plan = serving.Plan.quick() if quick else serving.Plan()
        plan = replace(plan, variants=("fp32",), corpora=(corpus,), tuning=STEPS[name], batch_sizes=(1, 8),
                       bulk_texts={}, concurrency=(1, 16))
        result = serving.run(plan, folder / "runs", lambda line: say("  " + line))
        rows.append(row(name, STEPS[name], result.variants[0].corpora[0]))
        (folder / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown(rows)
    (folder / "sweep.md").write_text(table)
    plot(rows, folder / "sweep.png")
    click.echo(table)
    click.echo(folder)


if __name__ == "__main__":
    main()
