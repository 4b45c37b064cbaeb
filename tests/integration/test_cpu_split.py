"""The serving benchmark's CPU split reads the real local Triton's processes: each model's stubs, Triton, the rest."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import cpu_split
from benchmarks.serving_report import describe_split
from client.corpus import corpus
from client.text_client import TextClient
from server.local import LocalTriton


def test_split_names_each_model_and_adds_up(tiny_repository: Path) -> None:
    with LocalTriton(tiny_repository) as server, TextClient(server.http_url) as client:
        client.predict(["warm up"], model="tiny_emb")
        before, start = cpu_split.sample(server.pid), time.perf_counter()
        client.predict(corpus(2000), model="tiny_emb")
        subprocess.run([sys.executable, "-c", "sum(i * i for i in range(2_000_000))"], check=True)
        used = cpu_split.split(before, cpu_split.sample(server.pid), time.perf_counter() - start)
    assert {"tiny_emb_tokenizer", "tiny_emb_onnx", "tiny_cls_tokenizer", cpu_split.TRITON} <= set(before.roles)
    assert used.shares["tiny_emb_tokenizer"] > 0 and used.shares["tiny_emb_onnx"] > 0
    assert used.shares["tiny_cls_tokenizer"] < used.shares["tiny_emb_tokenizer"]  # idle models use ~nothing
    assert used.shares[cpu_split.LOAD_GENERATOR] > 0  # the finished child process
    assert used.share("tiny_emb_") == used.shares["tiny_emb_tokenizer"] + used.shares["tiny_emb_onnx"]
    assert sum(used.shares.values()) + used.idle == pytest.approx(1.0, abs=0.02)
    text = describe_split(used)
    assert text.startswith(max(used.shares, key=used.shares.get).rsplit("_", 1)[-1]) and "idle" in text


def test_split_of_a_gone_server_counts_only_the_machine() -> None:
    before = cpu_split.sample(2**22 + 1)  # no such process
    assert before.roles[cpu_split.TRITON] == 0.0 and before.cpus >= 1
    used = cpu_split.split(before, cpu_split.sample(2**22 + 1), 0.5)
    assert set(used.shares) == {cpu_split.TRITON, cpu_split.LOAD_GENERATOR, cpu_split.OTHER}
    assert 0.0 <= used.idle <= 1.0
    meter = cpu_split.Meter(2**22 + 1)
    assert set(meter.lap().shares) == set(meter.lap().shares) == set(used.shares)  # each lap from the last
