"""Helpers for the server tests: a small hand-built repository, process checks, file-tree snapshots."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format.pbtxt import render

VOCAB = 50
HIDDEN = 8
LABELS = ("negative", "neutral", "positive")
TOKENS = ("input_ids", "attention_mask")

#: The Python model of the hand-built repository: UTF-8 bytes → token ids (byte % VOCAB), padded per request.
BYTE_TOKENIZER = '''
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.vocab = int(json.loads(args["model_config"])["parameters"]["vocab"]["string_value"])

    def execute(self, requests):
        responses = []
        for request in requests:
            texts = [bytes(t) for t in pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)]
            length = max(len(t) for t in texts)
            ids = np.zeros((len(texts), length), dtype=np.int64)
            mask = np.zeros((len(texts), length), dtype=np.int64)
            for row, text in enumerate(texts):
                ids[row, :len(text)] = np.frombuffer(text, dtype=np.uint8) % self.vocab
                mask[row, :len(text)] = 1
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("input_ids", ids),
                                                         pb_utils.Tensor("attention_mask", mask)]))
        return responses
'''

#: A Python model that cannot start.
BROKEN_MODEL = '''
class TritonPythonModel:
    def initialize(self, args):
        raise ValueError("weights are missing")

    def execute(self, requests):
        return []
'''


class TinyClassifier(torch.nn.Module):
    """Embedding → masked mean → linear: token tensors in, logits and probabilities out."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.head(pooled)
        return logits, torch.softmax(logits, dim=-1)


def token_batch(batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids with a ragged attention mask."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    for row in range(batch):
        mask[row, rng.integers(1, length + 1):] = 0
    return {"input_ids": ids, "attention_mask": mask}


def export_onnx(module: torch.nn.Module, path: Path) -> Path:
    """``torch.onnx.export`` with dynamic batch and sequence axes (opset 17)."""
    example = tuple(torch.from_numpy(a) for a in token_batch(2, 5).values())
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"}, "probabilities": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, str(path), input_names=list(TOKENS),
                          output_names=["logits", "probabilities"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    return path


def export_torchscript(module: torch.nn.Module, path: Path) -> Path:
    """``torch.jit.trace`` on a small batch."""
    example = tuple(torch.from_numpy(a) for a in token_batch(2, 5).values())
    with torch.no_grad():
        torch.jit.trace(module.eval(), example).save(str(path))
    return path


def artifact_config(name: str, platform: str, max_batch_size: int = 8, outputs: tuple[str, ...] = (
        "logits", "probabilities"), kind: int = mc.ModelInstanceGroup.KIND_GPU, delay_us: int = 20000,
                    count: int = 1) -> mc.ModelConfig:
    """An artifact model's config as ``python -m export`` writes it (GPU instances, TensorRT, warm-up)."""
    lead = [] if max_batch_size > 0 else [-1]
    config = mc.ModelConfig(
        name=name, platform=platform, max_batch_size=max_batch_size,
        input=[mc.ModelInput(name=n, data_type=mc.TYPE_INT64, dims=[*lead, -1]) for n in TOKENS],
        output=[mc.ModelOutput(name=n, data_type=mc.TYPE_FP32, dims=[*lead, len(LABELS)],
                               label_filename="labels.txt") for n in outputs],
        version_policy=mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)),
        instance_group=[mc.ModelInstanceGroup(kind=kind, count=count)],
        parameters={"intra_op_thread_count": mc.ModelParameter(string_value="1")},
    )
    if max_batch_size > 0:
        config.dynamic_batching.max_queue_delay_microseconds = delay_us
        config.model_warmup.append(mc.ModelWarmup(
            name="batch_1", batch_size=1,
            inputs={n: mc.ModelWarmup.Input(data_type=mc.TYPE_INT64, dims=[4], zero_data=True) for n in TOKENS}))
    if platform == "onnxruntime_onnx":
        accelerator = mc.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator(
            name="tensorrt", parameters={"precision_mode": "FP16"})
        config.optimization.execution_accelerators.gpu_execution_accelerator.append(accelerator)
    return config


def tokenizer_config(name: str) -> mc.ModelConfig:
    """The byte tokenizer's config (Python backend, CPU)."""
    return mc.ModelConfig(
        name=name, backend="python", max_batch_size=8,
        input=[mc.ModelInput(name="TEXT", data_type=mc.TYPE_STRING, dims=[1])],
        output=[mc.ModelOutput(name=n, data_type=mc.TYPE_INT64, dims=[-1]) for n in TOKENS],
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        parameters={"vocab": mc.ModelParameter(string_value=str(VOCAB))},
    )


def ensemble_config(name: str, tokenizer: str, artifact: str, outputs: dict[str, str]) -> mc.ModelConfig:
    """TEXT → tokenizer → artifact; ``outputs`` maps the artifact's output names to the ensemble's."""
    return mc.ModelConfig(
        name=name, platform="ensemble", max_batch_size=8,
        input=[mc.ModelInput(name="TEXT", data_type=mc.TYPE_STRING, dims=[1])],
        output=[mc.ModelOutput(name=n, data_type=mc.TYPE_FP32, dims=[len(LABELS)], label_filename="labels.txt")
                for n in outputs.values()],
        ensemble_scheduling=mc.ModelEnsembling(step=[
            mc.ModelEnsembling.Step(model_name=tokenizer, model_version=-1, input_map={"TEXT": "TEXT"},
                                    output_map={n: n for n in TOKENS}),
            mc.ModelEnsembling.Step(model_name=artifact, model_version=-1, input_map={n: n for n in TOKENS},
                                    output_map=outputs),
        ]),
    )


def write_model(repository: Path, config: mc.ModelConfig, files: dict[str, Path | bytes], version: int = 1,
                labels: bool = False) -> Path:
    """Write ``repository/NAME/config.pbtxt`` and the version folder (files copied or written)."""
    folder = repository / config.name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(render(config))
    if labels:
        (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    for name, content in files.items():
        target = folder / str(version) / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            shutil.copy2(content, target)
    return folder


def build_repository(repository: Path, work: Path) -> dict[str, Path]:
    """The hand-built repository; returns the artifacts by model name.

    * ``tiny_onnx``: ONNX, max_batch_size 8, KIND_GPU, TensorRT accelerator, labels; ``tiny`` calls it.
    * ``tiny_torchscript``: TorchScript (``logits__0``, ``probabilities__1``); ``tiny_ts`` calls it.
    * ``tiny_flat_onnx``: ONNX without batching (``max_batch_size: 0``, dims ``[-1, -1]``), on CPU.
    * ``tiny_batched_onnx``: ONNX whose batcher waits up to 0.5 s to fill batches of 16, on CPU.
    * ``tiny_tokenizer``: Python backend, bytes → token ids.
    """
    work.mkdir(parents=True, exist_ok=True)
    module = TinyClassifier()
    onnx_path = export_onnx(module, work / "model.onnx")
    ts_path = export_torchscript(module, work / "model.pt")
    write_model(repository, artifact_config("tiny_onnx", "onnxruntime_onnx"), {"model.onnx": onnx_path},
                labels=True)
    write_model(repository, artifact_config("tiny_torchscript", "pytorch_libtorch",
                                            outputs=("logits__0", "probabilities__1")),
                {"model.pt": ts_path}, labels=True)
    write_model(repository, artifact_config("tiny_flat_onnx", "onnxruntime_onnx", max_batch_size=0,
                                            kind=mc.ModelInstanceGroup.KIND_CPU), {"model.onnx": onnx_path},
                labels=True)
    write_model(repository, artifact_config("tiny_batched_onnx", "onnxruntime_onnx", max_batch_size=16,
                                            kind=mc.ModelInstanceGroup.KIND_CPU, delay_us=500_000),
                {"model.onnx": onnx_path}, labels=True)
    write_model(repository, tokenizer_config("tiny_tokenizer"), {"model.py": BYTE_TOKENIZER.encode()})
    write_model(repository, ensemble_config("tiny", "tiny_tokenizer", "tiny_onnx",
                                            {"logits": "logits", "probabilities": "probabilities"}), {},
                labels=True)
    write_model(repository, ensemble_config("tiny_ts", "tiny_tokenizer", "tiny_torchscript",
                                            {"logits__0": "logits", "probabilities__1": "probabilities"}), {},
                labels=True)
    return {"tiny_onnx": onnx_path, "tiny_torchscript": ts_path}


def byte_tokens(texts: list[str]) -> dict[str, np.ndarray]:
    """What ``tiny_tokenizer`` makes of ``texts`` in one request."""
    raw = [t.encode() for t in texts]
    length = max(len(t) for t in raw)
    ids = np.zeros((len(raw), length), dtype=np.int64)
    mask = np.zeros((len(raw), length), dtype=np.int64)
    for row, text in enumerate(raw):
        ids[row, :len(text)] = np.frombuffer(text, dtype=np.uint8) % VOCAB
        mask[row, :len(text)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def group_processes(pgid: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every live process in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), command))
        except (OSError, ValueError, IndexError):
            continue
    return found


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, size, mtime and content hash (files) or target (links)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            if path.is_symlink():
                state[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path.relative_to(root))] = ("file", stat.st_size, stat.st_mtime_ns, digest)
            else:
                state[str(path.relative_to(root))] = ("dir", stat.st_mtime_ns)
    return state
