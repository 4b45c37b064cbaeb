"""Images/s served with the export's defaults against this machine's in-process ceiling, with the split.

    .venv/bin/python -m benchmarks.images [--seconds 5] [--images 64] [-c 1 -c 16] [--model FOLDER]

Builds a ViT-S/16-shaped classifier at 224×224 with random weights (or exports ``--model``) for CPU with the
exporter's defaults (no serving option given: what a user gets), serves it with the local Triton and sends the
same generated 640×480 JPEG photos two ways:

- **served**: a closed loop of ``concurrency`` gRPC clients against the ensemble, one image per request (decode
  + preprocess in the Python-backend step, the model in ONNX Runtime, dynamic batching on both);
- **in-process ceiling**: the same work in this process with no server, the best this machine does: the step's
  own decode + preprocess (:mod:`tritonize.repo_format.image_preprocessing`) and the same ``model.onnx`` in ONNX
  Runtime, over every sessions × threads layout of the cores (1×1, 1×2, 2×1 on 2 cores; sessions run side by
  side in threads) at batch 1, 4 and 8, as :mod:`benchmarks.inprocess` does for text.

The split: preprocessing and model ms/image in process, and each step's compute ms per request in the server
(Triton's statistics). Writes ``served.md`` and ``served.json`` into ``benchmarks/results/images/``; the
serving-knob sweep that chose the image defaults is :mod:`benchmarks.image_sweep`.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np

from benchmarks.inprocess import default_layouts
from benchmarks.machine import describe_machine
from client.server_stats import ModelCounters
from export.images.verification import encode, picture
from export.pipeline import run_export
from export.settings import ExportSettings
from server.local import LocalTriton
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT, PIXEL_VALUES, ImageParameters, preprocess
from tritonize.repo_format.platforms import INTRA_OP_THREADS

#: Photos sent (distinct content, one size, as a camera folder would be).
PHOTOS = 16

#: In-process batch sizes tried for every layout.
CEILING_BATCH_SIZES = (1, 4, 8)

#: Seconds of load at the deepest level before measuring: the first batches of each size after a load are slow
#: (c16 served 17–21 img/s cold against 35 warm on the same config), which is start-up, not serving.
WARM_UP_S = 4.0

#: Base name of the exported models, and the ensemble's steps.
NAME = "bench"
STEPS = (f"{NAME}_preprocess", f"{NAME}_onnx")


def photos(count: int = PHOTOS) -> list[bytes]:
    """Generated 640×480 JPEG photos (quality 90)."""
    from PIL import Image

    return [encode(Image.fromarray(picture(640, 480, seed)), "JPEG", quality=90) for seed in range(count)]


def make_vit_small(folder: Path) -> Path:
    """A ViT-S/16-shaped classifier (224×224, 384 wide, 6 layers) with random weights and ViT's processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=224, patch_size=16, hidden_size=384, num_hidden_layers=6, num_attention_heads=6,
                       intermediate_size=1536, num_labels=10)
    ViTForImageClassification(config).eval().save_pretrained(str(folder))
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(str(folder))
    return folder


@dataclass(frozen=True)
class Layout:
    """Throughput of one in-process layout and batch size, with the split per image.

    Attributes:
        sessions: ONNX Runtime sessions run side by side, one Python thread each.
        threads: Intra-op threads of each session.
        batch_size: Images per run.
        images_per_s: Images per second, decode + preprocess + model, wall clock.
        preprocess_ms: Decode + preprocess time per image, summed over the workers.
        model_ms: Model time per image, summed over the workers.
    """

    sessions: int
    threads: int
    batch_size: int
    images_per_s: float
    preprocess_ms: float
    model_ms: float

    @property
    def label(self) -> str:
        """``2 sessions × 1 thread, batch 4``."""
        return f"{self.sessions} session{'s' * (self.sessions > 1)} × {self.threads} thread" \
               f"{'s' * (self.threads > 1)}, batch {self.batch_size}"


def in_process(onnx_path: Path, parameters: ImageParameters, images: list[bytes], count: int, sessions: int,
               threads: int, batch: int) -> Layout:
    """Decode + preprocess + model of ``count`` images in this process: ``sessions`` sessions of ``threads``.

    Each session runs in a Python thread of its own (ONNX Runtime and Pillow release the GIL) and takes the
    next batch of ``batch`` images from one shared queue. Sessions do not spin, as in the server's adapter: on
    2 shared cores spinning threads slowed ViT-S 2×.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    runners = [ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
               for _ in range(sessions)]
    for runner in runners:  # warm up at the batch size measured
        runner.run(None, {PIXEL_VALUES: np.stack([preprocess(images[0], parameters)] * batch)})
    batches = [[images[(start + i) % len(images)] for i in range(batch)] for start in range(0, count, batch)]
    pending = iter(batches)
    lock = threading.Lock()
    spent = [[0.0, 0.0] for _ in runners]

    def work(slot: int) -> None:
        while True:
            with lock:
                chosen = next(pending, None)
            if chosen is None:
                return
            start = time.perf_counter()
            pixels = np.stack([preprocess(data, parameters) for data in chosen])
            middle = time.perf_counter()
            runners[slot].run(None, {PIXEL_VALUES: pixels})
            spent[slot][0] += middle - start
            spent[slot][1] += time.perf_counter() - middle

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(sessions)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    done = len(batches) * batch
    return Layout(sessions, threads, batch, done / elapsed, 1000 * sum(s[0] for s in spent) / done,
                  1000 * sum(s[1] for s in spent) / done)


def ceiling_layouts(onnx_path: Path, parameters: ImageParameters, images: list[bytes], count: int,
                    batch_sizes: tuple[int, ...] = CEILING_BATCH_SIZES) -> list[Layout]:
    """Every sessions × threads layout of this machine's cores (:func:`benchmarks.inprocess.default_layouts`)
    at every batch size; the best is the ceiling a server is held to."""
    return [in_process(onnx_path, parameters, images, count, sessions, threads, batch)
            for sessions, threads in default_layouts() for batch in batch_sizes]


def best(layouts: list[Layout]) -> Layout:
    """The layout with the most images/s."""
    return max(layouts, key=lambda layout: layout.images_per_s)


def served(url: str, model: str, images: list[bytes], seconds: float, concurrency: int) -> dict[str, float]:
    """Images/s, p50/p99 latency and refused requests of a closed loop of ``concurrency`` gRPC clients."""
    import tritonclient.grpc as grpc
    from tritonclient.utils import InferenceServerException

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        client = grpc.InferenceServerClient(url)
        index = slot
        while time.perf_counter() < stop:
            tensor = grpc.InferInput(IMAGE_INPUT, [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[images[index % len(images)]]], dtype=np.object_))
            start = time.perf_counter()
            try:
                client.infer(model, [tensor])
            except InferenceServerException:  # a queue timeout under overload: counted, not fatal
                errors[slot] += 1
            else:
                latencies[slot].append(time.perf_counter() - start)
            index += concurrency
        client.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    answered = sorted(x for slot in latencies for x in slot)
    flat = answered or [float("nan")]
    return {"images_per_s": len(answered) / elapsed, "p50_ms": 1000 * statistics.median(flat),
            "p99_ms": 1000 * flat[min(len(flat) - 1, int(0.99 * len(flat)))], "errors": float(sum(errors))}


def step_ms(server_url: str, names: list[str], before: dict[str, ModelCounters]) -> dict[str, float]:
    """Compute ms per request of each step since ``before`` (Triton's statistics)."""
    now = counters(server_url, names)
    result = {}
    for name in names:
        delta = now[name] - before[name]
        result[name] = delta.compute_ns / 1e6 / max(delta.requests, 1)
    return result


def counters(url: str, names: list[str]) -> dict[str, ModelCounters]:
    """Triton's cumulative statistics of each model."""
    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    try:
        return {name: ModelCounters.from_statistics(client.get_inference_statistics(name)["model_stats"])
                for name in names}
    finally:
        client.close()


@dataclass(frozen=True)
class Exported:
    """A CPU image export for the benchmarks, with what the in-process runs need.

    Attributes:
        repository: The model repository written.
        onnx_path: The served ``model.onnx``.
        parameters: The preprocessing step's parameters, read back from its config.
        description: Model id and input shape, for reports.
    """

    repository: Path
    onnx_path: Path
    parameters: ImageParameters
    description: str


def export_bench(folder: Path, repository: Path) -> Exported:
    """Export ``folder`` for CPU as ``bench`` with the exporter's defaults (no serving option given)."""
    settings = ExportSettings(model=str(folder), repository=repository, name=NAME, formats=("onnx",),
                              instance_kind="cpu", release_check=False, load_check=False)
    result = run_export(settings, None)
    parameters = ImageParameters.from_strings({
        key: value.string_value for key, value in _config(repository / STEPS[0]).parameters.items()})
    return Exported(repository, repository / STEPS[1] / str(result.version) / "model.onnx", parameters,
                    f"{result.model_id} → pixel_values {list(result.signature.inputs[0].dims)}")


def serving_defaults(repository: Path) -> dict[str, object]:
    """What the export wrote for serving: instances, threads, batching of the model and the step."""
    model, step = _config(repository / STEPS[1]), _config(repository / STEPS[0])
    key = INTRA_OP_THREADS["onnx"]
    return {"instances": sum(g.count for g in model.instance_group),
            "threads": int(model.parameters[key].string_value) if key in model.parameters else 0,
            "max_batch_size": model.max_batch_size,
            "max_queue_delay_us": model.dynamic_batching.max_queue_delay_microseconds,
            "preprocess_instances": sum(g.count for g in step.instance_group),
            "preprocess_delay_us": step.dynamic_batching.max_queue_delay_microseconds}


def split_table(ceiling: Layout, single: Layout) -> str:
    """Markdown: the in-process split per image, one thread at batch 1 and the best layout."""
    lines = ["| in process | img/s | decode + preprocess ms/img | model ms/img |", "|---|---:|---:|---:|"]
    for name, layout in (("1 session × 1 thread, batch 1", single), (f"ceiling: {ceiling.label}", ceiling)):
        lines.append(f"| {name} | {layout.images_per_s:.1f} | {layout.preprocess_ms:.2f} | {layout.model_ms:.2f} |")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--seconds", type=float, default=5.0, show_default=True, help="Seconds per served measurement.")
@click.option("--images", "count", type=int, default=64, show_default=True,
              help="Images per in-process layout (each layout × batch size runs them once).")
@click.option("--concurrency", "-c", type=int, multiple=True, default=(1, 16), show_default=True)
@click.option("--model", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An image classifier folder (default: a ViT-S/16-shaped classifier, random weights).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("benchmarks/results/images"), show_default=True)
def main(seconds: float, count: int, concurrency: tuple[int, ...], model: Path | None, output_dir: Path) -> None:
    """Measure images/s served with the export's defaults vs the in-process ceiling, with the split."""
    images = photos()
    with tempfile.TemporaryDirectory(prefix="tritonize-images-bench-") as tmp:
        exported = export_bench(model or make_vit_small(Path(tmp) / "vit"), Path(tmp) / "model_repository")
        defaults = serving_defaults(exported.repository)
        machine = describe_machine()
        print(f"machine: {machine}")
        print(f"model: {exported.description}; {len(images)} JPEG photos 640×480; served {seconds:g} s per level; "
              f"export defaults {defaults}")
        layouts = ceiling_layouts(exported.onnx_path, exported.parameters, images, count)
        single = in_process(exported.onnx_path, exported.parameters, images, count // 2, 1, 1, 1)
        ceiling = best(layouts)
        rows = []
        with LocalTriton(exported.repository, ready_timeout=180) as server:
            served(server.grpc_url, NAME, images, WARM_UP_S, max(concurrency))  # see WARM_UP_S
            for level in concurrency:
                before = counters(server.http_url, list(STEPS))
                answer = served(server.grpc_url, NAME, images, seconds, level)
                rows.append({"concurrency": level, **answer, "ratio": answer["images_per_s"] / ceiling.images_per_s,
                             "server_ms_per_request": step_ms(server.http_url, list(STEPS), before)})
    lines = [f"Machine: {machine}", f"Model: {exported.description}, {len(images)} JPEG photos 640×480, one per "
             f"request (gRPC, closed loop, {seconds:g} s per level).", f"Export defaults (cpu): {defaults}", "",
             split_table(ceiling, single),
             "| c | served img/s | p50 ms | p99 ms | ceiling img/s | served / ceiling | step ms/req "
             "(preprocess / model) | errors |", "|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row in rows:
        step = row["server_ms_per_request"]
        lines.append(f"| {row['concurrency']} | {row['images_per_s']:.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                     f"| {ceiling.images_per_s:.1f} | {row['ratio']:.2f} | {step[STEPS[0]]:.1f} / "
                     f"{step[STEPS[1]]:.1f} | {row['errors']:.0f} |")
    lines += ["", "| in-process layout | img/s | preprocess ms/img | model ms/img |", "|---|---:|---:|---:|"]
    lines += [f"| {x.label} | {x.images_per_s:.1f} | {x.preprocess_ms:.2f} | {x.model_ms:.2f} |" for x in layouts]
    text = "\n".join(lines) + "\n"
    print(text)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "served.md").write_text(text)
    (output_dir / "served.json").write_text(json.dumps({
        "machine": machine, "model": exported.description, "seconds": seconds, "defaults": defaults,
        "ceiling": asdict(ceiling), "single_thread": asdict(single), "layouts": [asdict(x) for x in layouts],
        "served": rows}, indent=2) + "\n")


def _config(model_dir: Path) -> object:
    from tritonize.repo_format.pbtxt import parse

    return parse((model_dir / "config.pbtxt").read_text())


if __name__ == "__main__":
    main()
