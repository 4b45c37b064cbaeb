"""Images/s served against the in-process ceiling, with the split between preprocessing and the model.

    .venv/bin/python -m benchmarks.images [--seconds 5] [--concurrency 1 --concurrency 16] [--model FOLDER]

Builds a ViT-S/16-shaped classifier at 224×224 with random weights (or exports ``--model``) for CPU, serves it with
the local Triton and sends the same generated 640×480 JPEG photos two ways, one image per request:

- **served**: a closed loop of ``concurrency`` gRPC clients against the ensemble (decode + preprocess in the
  Python-backend step, the model in ONNX Runtime, dynamic batching on both);
- **in-process ceiling**: the same work in this process with no server: the step's own decode + preprocess
  (:mod:`tritonize.repo_format.image_preprocessing`) and the same ``model.onnx`` in ONNX Runtime, at batch 1 for
  c1 and in batches of ``concurrency`` for c16 (what dynamic batching at best achieves).

The split: preprocessing ms/image and model ms/image in process, and each step's compute time per request in
the server (Triton's statistics). Smoke runs only on a shared machine; numbers are this machine's.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from benchmarks.machine import describe_machine
from client.server_stats import ModelCounters
from export.images.verification import encode, picture
from export.pipeline import run_export
from export.settings import DEFAULT_BATCHING, ExportSettings
from server.local import LocalTriton
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT, PIXEL_VALUES, ImageParameters, preprocess
from tritonize.repo_format.platforms import INTRA_OP_THREADS

#: Photos sent (distinct content, one size, as a camera folder would be).
PHOTOS = 16


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


def in_process(onnx_path: Path, parameters: ImageParameters, images: list[bytes], seconds: float,
               batch: int, threads: int) -> dict[str, float]:
    """Images/s of decode + preprocess + model in this process, batches of ``batch``, and the split in ms/image.

    The session gets the served model's intra-op threads (``threads``; 0: ONNX Runtime's default) and, as the
    server's adapter, no spinning: on 2 shared cores one thread ran ViT-S 2× faster than ONNX Runtime's default.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    preprocess_s = model_s = 0.0
    done = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        chosen = [images[(done + i) % len(images)] for i in range(batch)]
        start = time.perf_counter()
        pixels = np.stack([preprocess(data, parameters) for data in chosen])
        middle = time.perf_counter()
        session.run(None, {PIXEL_VALUES: pixels})
        end = time.perf_counter()
        preprocess_s += middle - start
        model_s += end - middle
        done += batch
    return {"images_per_s": done / (preprocess_s + model_s), "preprocess_ms": 1000 * preprocess_s / done,
            "model_ms": 1000 * model_s / done}


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


@click.command()
@click.option("--seconds", type=float, default=5.0, show_default=True, help="Seconds per measurement.")
@click.option("--concurrency", "-c", type=int, multiple=True, default=(1, 16), show_default=True)
@click.option("--model", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An image classifier folder (default: a ViT-S/16-shaped classifier, random weights).")
def main(seconds: float, concurrency: tuple[int, ...], model: Path | None) -> None:
    """Measure images/s served vs in process at each concurrency, with the preprocessing / model split."""
    images = photos()
    with tempfile.TemporaryDirectory(prefix="tritonize-images-bench-") as tmp:
        folder = model or make_vit_small(Path(tmp) / "vit")
        repository = Path(tmp) / "model_repository"
        settings = ExportSettings(model=str(folder), repository=repository, name="bench", formats=("onnx",),
                                  instance_kind="cpu", instance_count=1, release_check=False, load_check=False,
                                  batching=replace(DEFAULT_BATCHING["cpu"], max_batch_size=16))
        result = run_export(settings, None)
        parameters = ImageParameters.from_strings({
            key: value.string_value for key, value in _config(repository / "bench_preprocess").parameters.items()})
        onnx_path = repository / "bench_onnx" / str(result.version) / "model.onnx"
        served_config = _config(repository / "bench_onnx")
        threads = int(served_config.parameters[INTRA_OP_THREADS["onnx"]].string_value or 0) \
            if INTRA_OP_THREADS["onnx"] in served_config.parameters else 0
        print(f"machine: {describe_machine()}")
        print(f"model: {result.model_id} → pixel_values {list(result.signature.inputs[0].dims)}; "
              f"{len(images)} JPEG photos 640×480; {seconds:g} s per measurement; {threads or 'default'} "
              f"intra-op thread(s) in and out of the server")
        rows = []
        with LocalTriton(repository, ready_timeout=180) as server:
            steps = ["bench_preprocess", "bench_onnx"]
            for level in concurrency:
                ceiling = in_process(onnx_path, parameters, images, seconds, batch=level, threads=threads)
                before = counters(server.http_url, steps)
                answer = served(server.grpc_url, "bench", images, seconds, level)
                split = step_ms(server.http_url, steps, before)
                rows.append((level, answer, ceiling, split))
    print(f"{'c':>3} {'served img/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'in-proc img/s':>13} {'ratio':>6} "
          f"{'pre ms/img':>10} {'model ms/img':>12} {'server pre ms/req':>17} {'server model ms/req':>19} "
          f"{'errors':>6}")
    for level, answer, ceiling, split in rows:
        print(f"{level:>3} {answer['images_per_s']:>12.1f} {answer['p50_ms']:>7.1f} {answer['p99_ms']:>7.1f} "
              f"{ceiling['images_per_s']:>13.1f} {answer['images_per_s'] / ceiling['images_per_s']:>6.2f} "
              f"{ceiling['preprocess_ms']:>10.2f} {ceiling['model_ms']:>12.2f} {split['bench_preprocess']:>17.2f} "
              f"{split['bench_onnx']:>19.2f} {answer['errors']:>6.0f}")


def _config(model_dir: Path) -> object:
    from tritonize.repo_format.pbtxt import parse

    return parse((model_dir / "config.pbtxt").read_text())


if __name__ == "__main__":
    main()
