"""CPU serving-knob sweep for an image export: which instances, threads and batching serve images best.

    .venv/bin/python -m benchmarks.image_sweep [--seconds 4] [--rounds 2] [--candidate "2x1 d500 b16 p1" ...]

Exports the ViT-S/16-shaped classifier of :mod:`benchmarks.images` once for CPU, then serves each candidate by
rewriting the three configs as protobuf (ensemble, preprocessing step, model) and reloading them in the local
Triton (explicit model control, as :mod:`tune.serving` does). A candidate sets the model's instances × intra-op
threads, its dynamic batcher's delay, ``max_batch_size`` (ensemble, step and model alike) and the preprocessing
step's instances. Each round measures the in-process ceiling (:func:`benchmarks.images.ceiling_layouts`), then
every candidate in turn: reload, warm up at c16, an in-process probe of the round's best layout (each ratio is
to it), c1 and c16 (gRPC closed loop, one 640×480 JPEG per request); rounds alternate the candidates' order so
that a slow minute of a shared machine does not land on one of them. The table gives medians over the rounds.
Prints and writes ``sweep.md``, ``sweep.json`` and ``sweep.png`` into ``benchmarks/results/images/``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
from tritonclient.grpc import model_config_pb2 as mc

from benchmarks.images import (
    NAME,
    STEPS,
    WARM_UP_S,
    best,
    ceiling_layouts,
    export_bench,
    in_process,
    make_vit_small,
    photos,
    served,
)
from benchmarks.machine import describe_machine
from server.local import LocalTriton
from tritonize.repo_format.files import CONFIG_FILENAME
from tritonize.repo_format.pbtxt import read_config, render
from tritonize.repo_format.platforms import INTRA_OP_THREADS


@dataclass(frozen=True)
class Candidate:
    """Serving knobs of one candidate.

    Attributes:
        instances: Model instances.
        threads: Intra-op threads of each model instance.
        max_queue_delay_us: The model's dynamic batcher delay.
        max_batch_size: Largest batch of the ensemble, the step and the model.
        preprocess_instances: Instances of the Python-backend preprocessing step.
        preferred_batch_size: The model's dynamic batcher sends batches of this size as soon as it has them
            (0: none, Triton fills up to ``max_batch_size``).
    """

    instances: int = 3
    threads: int = 1
    max_queue_delay_us: int = 500
    max_batch_size: int = 64
    preprocess_instances: int = 1
    preferred_batch_size: int = 0

    @property
    def label(self) -> str:
        """``3x1 d500 b64 p1``: instances × threads, delay µs, max batch, preprocessing instances (``pref4``)."""
        return (f"{self.instances}x{self.threads} d{self.max_queue_delay_us} b{self.max_batch_size} "
                f"p{self.preprocess_instances}" + (f" pref{self.preferred_batch_size}" if self.preferred_batch_size
                                                   else ""))

    @classmethod
    def parse(cls, label: str) -> Candidate:
        """The candidate of a :attr:`label` (``2x2 d500 b16 p1``, optionally `` pref4``)."""
        parts = label.split()
        instances, threads = (int(x) for x in parts[0].split("x"))
        values = {part.rstrip("0123456789"): int(part.lstrip("dbpref")) for part in parts[1:]}
        return cls(instances, threads, values["d"], values["b"], values["p"], values.get("pref", 0))


#: The text CPU defaults, which image exports took before this sweep.
TEXT_DEFAULTS = Candidate()

#: One knob changed from :data:`TEXT_DEFAULTS` per candidate, then combinations. With ``max_batch_size`` 64 the
#: batcher hands all 16 requests of c16 to one instance, which runs them on one core while the others wait: the
#: smaller batches (max batch, preferred batch) spread them over the instances.
CANDIDATES: tuple[Candidate, ...] = (
    TEXT_DEFAULTS,
    replace(TEXT_DEFAULTS, instances=2),
    replace(TEXT_DEFAULTS, instances=1, threads=2),
    replace(TEXT_DEFAULTS, max_queue_delay_us=0),
    replace(TEXT_DEFAULTS, max_queue_delay_us=2000),
    replace(TEXT_DEFAULTS, max_batch_size=8),
    replace(TEXT_DEFAULTS, max_batch_size=16),
    replace(TEXT_DEFAULTS, preprocess_instances=2),
    replace(TEXT_DEFAULTS, preferred_batch_size=4),
    replace(TEXT_DEFAULTS, max_batch_size=8, preprocess_instances=2),
    replace(TEXT_DEFAULTS, instances=2, max_batch_size=8, preprocess_instances=2),
    replace(TEXT_DEFAULTS, instances=2, threads=2, max_batch_size=8, preprocess_instances=2),
    replace(TEXT_DEFAULTS, preferred_batch_size=4, preprocess_instances=2),
)

#: Images of the in-process probe run just before each candidate (the round's best layout): the ratio of
#: each candidate is to this, so that load from other processes at that minute weighs on both sides.
PROBE_IMAGES = 24

#: Load levels measured (requests in flight, one image each).
LEVELS = (1, 16)


def apply(configs: dict[str, mc.ModelConfig], candidate: Candidate) -> dict[str, mc.ModelConfig]:
    """New configs of the ensemble, the step and the model with ``candidate`` set (``configs`` stay as they are)."""
    new = {}
    for name, config in configs.items():
        copy = mc.ModelConfig()
        copy.CopyFrom(config)
        copy.max_batch_size = candidate.max_batch_size
        for warmup in copy.model_warmup:
            warmup.batch_size = min(warmup.batch_size, candidate.max_batch_size)
        new[name] = copy
    step, model = new[STEPS[0]], new[STEPS[1]]
    _set_instances(step, candidate.preprocess_instances)
    _set_instances(model, candidate.instances)
    model.parameters[INTRA_OP_THREADS["onnx"]].string_value = str(candidate.threads)
    model.dynamic_batching.max_queue_delay_microseconds = candidate.max_queue_delay_us
    del model.dynamic_batching.preferred_batch_size[:]
    if candidate.preferred_batch_size:
        model.dynamic_batching.preferred_batch_size.append(candidate.preferred_batch_size)
    return new


def _set_instances(config: mc.ModelConfig, count: int) -> None:
    kind = config.instance_group[0].kind if config.instance_group else mc.ModelInstanceGroup.KIND_CPU
    del config.instance_group[:]
    config.instance_group.append(mc.ModelInstanceGroup(kind=kind, count=count))


def serve(server: LocalTriton, repository: Path, configs: dict[str, mc.ModelConfig]) -> None:
    """Write ``configs`` and (re)load the steps, then the ensemble."""
    import tritonclient.http as http

    for name, config in configs.items():
        (repository / name / CONFIG_FILENAME).write_text(render(config))
    server.sync_repository()
    client = http.InferenceServerClient(server.http_url.split("://")[-1], network_timeout=300.0)
    try:
        for name in (*STEPS, NAME):
            client.load_model(name)
    finally:
        client.close()


def summarise(candidate: Candidate, runs: Sequence[dict[str, object]]) -> dict[str, object]:
    """Median over the rounds of each level's img/s, p50, p99 and ratio to the probe; best img/s; spread."""
    row: dict[str, object] = {"candidate": candidate.label, **asdict(candidate), "rounds": list(runs)}
    for level in LEVELS:
        at = [run["levels"][str(level)] for run in runs]
        for key in ("images_per_s", "p50_ms", "p99_ms", "ratio", "errors"):
            row[f"c{level}_{key}"] = statistics.median(x[key] for x in at)
        row[f"c{level}_best"] = max(x["images_per_s"] for x in at)
        row[f"c{level}_spread"] = (max(x["images_per_s"] for x in at) - min(x["images_per_s"] for x in at)) / \
            row[f"c{level}_images_per_s"]
    return row


def markdown(rows: Sequence[dict[str, object]], ceilings: Sequence[float]) -> str:
    """The sweep table, every candidate against the first."""
    base = rows[0]
    lines = [f"In-process ceiling per round (img/s, best layout): {', '.join(f'{c:.1f}' for c in ceilings)}; "
             "each ratio is to an in-process probe of that layout run just before the candidate.", "",
             "| candidate | instances × threads | delay µs | max batch | preferred | step instances | c1 img/s "
             "| c1 p50 / p99 ms | c1 / ceiling | c16 img/s (best) | c16 p50 / p99 ms | c16 / ceiling | c16 × first "
             "| spread c16 |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['candidate']} | {r['instances']}×{r['threads']} | {r['max_queue_delay_us']} | {r['max_batch_size']} "
            f"| {r['preferred_batch_size'] or '-'} | {r['preprocess_instances']} | {r['c1_images_per_s']:.1f} "
            f"| {r['c1_p50_ms']:.0f} / {r['c1_p99_ms']:.0f} "
            f"| {r['c1_ratio']:.2f} | {r['c16_images_per_s']:.1f} ({r['c16_best']:.1f}) "
            f"| {r['c16_p50_ms']:.0f} / {r['c16_p99_ms']:.0f} "
            f"| {r['c16_ratio']:.2f} | {r['c16_images_per_s'] / base['c16_images_per_s']:.2f} "
            f"| {r['c16_spread']:.0%} |")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, object]], ceiling: float, path: Path) -> None:
    """Served img/s at c1 and c16 per candidate, with the mean in-process ceiling as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(7.0, 0.9 * len(rows) + 2), 4.8))
    positions = range(len(rows))
    for offset, level in ((-0.2, 1), (0.2, 16)):
        bars = axes.bar([p + offset for p in positions], [r[f"c{level}_images_per_s"] for r in rows], 0.4,
                        label=f"served, c{level}")
        axes.bar_label(bars, fmt="%.1f", fontsize=7)
    axes.axhline(ceiling, color="black", linestyle="--", linewidth=1, label=f"in-process ceiling {ceiling:.1f}")
    axes.set_xticks(list(positions), [r["candidate"] for r in rows], rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("images per second")
    axes.set_title("ViT-S/16 224² on the local Triton (CPU), 640×480 JPEG: serving candidates")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--seconds", type=float, default=4.0, help="Seconds per served level.")
@click.option("--rounds", type=int, default=2, help="Passes over the candidates (alternating order).")
@click.option("--images", "count", type=int, default=48, help="Images per in-process layout.")
@click.option("--candidate", "chosen", multiple=True, help="Candidate to run, as its label: instances x threads, "
              "delay µs, max batch, preprocessing instances, preferred batch ('2x2 d500 b16 p1', '3x1 d0 b64 p2 "
              "pref4'); repeat for several, the first is the base of '× first' [default: all of CANDIDATES].")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("benchmarks/results/images"))
def main(seconds: float, rounds: int, count: int, chosen: tuple[str, ...], output_dir: Path) -> None:
    """Serve each candidate, measure c1 and c16 against the in-process ceiling; print and write the table."""
    candidates = [Candidate.parse(label) for label in chosen] if chosen else list(CANDIDATES)
    images = photos()
    runs: dict[str, list[dict[str, object]]] = {c.label: [] for c in candidates}
    ceilings: list[float] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tritonize-image-sweep-") as tmp:
        exported = export_bench(make_vit_small(Path(tmp) / "vit"), Path(tmp) / "model_repository")
        configs = {name: read_config(exported.repository / name) for name in (NAME, *STEPS)}
        with LocalTriton(exported.repository, model_control_mode="explicit", ready_timeout=180) as server:
            for index in range(rounds):
                ceiling = best(ceiling_layouts(exported.onnx_path, exported.parameters, images, count))
                ceilings.append(ceiling.images_per_s)
                click.echo(f"round {index + 1}: ceiling {ceiling.images_per_s:.1f} img/s ({ceiling.label})", err=True)
                for candidate in candidates if index % 2 == 0 else reversed(candidates):
                    serve(server, exported.repository, apply(configs, candidate))
                    served(server.grpc_url, NAME, images, WARM_UP_S, max(LEVELS))  # warm every instance and size
                    probe = in_process(exported.onnx_path, exported.parameters, images, PROBE_IMAGES,
                                       ceiling.sessions, ceiling.threads, ceiling.batch_size).images_per_s
                    levels = {}
                    for level in LEVELS:
                        answer = served(server.grpc_url, NAME, images, seconds, level)
                        levels[str(level)] = {**answer, "ratio": answer["images_per_s"] / probe}
                    runs[candidate.label].append({"round": index + 1, "ceiling": probe, "levels": levels})
                    click.echo(f"  {candidate.label}: c1 {levels['1']['images_per_s']:.1f}, "
                               f"c16 {levels['16']['images_per_s']:.1f} img/s", err=True)
    rows = [summarise(c, runs[c.label]) for c in candidates]
    table = markdown(rows, ceilings)
    machine = describe_machine()
    header = (f"Machine: {machine}\nModel: ViT-S/16-shaped classifier 224², 16 JPEG photos 640×480, one per request "
              f"(gRPC closed loop), {seconds:g} s per level, {rounds} rounds alternating, "
              f"{time.perf_counter() - began:.0f} s in all. Values are medians over the rounds.\n\n")
    click.echo(header + table)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "sweep.md").write_text(header + table)
    (output_dir / "sweep.json").write_text(json.dumps({"machine": machine, "seconds": seconds, "rounds": rounds,
                                                       "ceilings": ceilings, "candidates": rows}, indent=2) + "\n")
    plot(rows, statistics.fmean(ceilings), output_dir / "sweep.png")


if __name__ == "__main__":
    main()
