"""Start and stop the peer servers the peers benchmark compares with: infinity-emb (optimum engine), the naive app.

Both run from their own venvs (:mod:`benchmarks.peer_envs`) as child processes of the benchmark, on free
loopback ports, and are stopped (terminate, then kill) when the ``with`` block ends.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peer_envs import INFINITY_ENV, NAIVE_ENV, PeerEnv, ensure
from export.release_check import cache_root
from server.ports import free_ports

#: The ONNX file optimum-cli writes into the folder root, which infinity's optimum engine picks up.
OPTIMUM_ONNX = "model.onnx"
NAIVE_APP = Path(__file__).with_name("naive_app.py")


@dataclass(frozen=True)
class Running:
    """A peer server up and answering.

    Attributes:
        name: Label in tables.
        base_url: ``http://127.0.0.1:<port>``.
        pid: Its process (for the CPU split).
        model: The model name its requests carry.
    """

    name: str
    base_url: str
    pid: int
    model: str = ""


def optimum_folder(source: Path, say: Callable[[str], None] = lambda _: None) -> Path:
    """A copy of the model folder ``source`` with optimum's ONNX export in its root, made once in the cache.

    The export is ``optimum-cli export onnx --library-name transformers --task feature-extraction`` run in the
    infinity venv (its optimum is the one infinity loads the file with).

    Raises:
        RuntimeError: optimum-cli failed.
    """
    env = ensure(INFINITY_ENV, say)
    target = cache_root() / "peers" / f"{source.name}-optimum"
    if (target / OPTIMUM_ONNX).is_file():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    say(f"Exporting {source.name} with optimum-cli into {target} once …")
    result = subprocess.run([str(env.bin("optimum-cli")), "export", "onnx", "--model", str(staging),
                             "--library-name", "transformers", "--task", "feature-extraction", str(staging)],
                            capture_output=True, text=True)
    if result.returncode != 0 or not (staging / OPTIMUM_ONNX).is_file():
        raise RuntimeError(f"optimum-cli export failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


@contextmanager
def infinity(source: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[Running]:
    """infinity-emb v2 serving ``source`` with its optimum engine on CPU, mean pooling (a local folder would pool
    CLS otherwise), on a free port."""
    folder = optimum_folder(source, say)
    (port,) = free_ports(1)
    command = [str(INFINITY_ENV.bin("infinity_emb")), "v2", "--model-id", str(folder), "--served-model-name",
               "minilm", "--engine", "optimum", "--device", "cpu", "--pooling-method", "mean",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with _process("infinity-emb", command, f"http://127.0.0.1:{port}", "/health", INFINITY_ENV) as running:
        yield Running(running.name, running.base_url, running.pid, "minilm")


@contextmanager
def naive(source: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[Running]:
    """The naive FastAPI + transformers app (:mod:`benchmarks.naive_app`) serving ``source`` on a free port."""
    env = ensure(NAIVE_ENV, say)
    (port,) = free_ports(1)
    command = [str(env.python), str(NAIVE_APP), "--model", str(source), "--port", str(port)]
    with _process("naive FastAPI", command, f"http://127.0.0.1:{port}", "/health", env) as running:
        yield running


@contextmanager
def _process(name: str, command: list[str], base_url: str, health: str, env: PeerEnv,
             timeout: float = 180.0) -> Iterator[Running]:
    log = env.folder / f"{name.split()[0]}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                tail = "\n".join(log.read_text().strip().splitlines()[-5:])
                raise RuntimeError(f"{name} exited with {process.returncode} while starting:\n{tail}")
            try:
                with urllib.request.urlopen(base_url + health, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not healthy after {timeout:.0f} s (log: {log})")
            time.sleep(0.5)
        yield Running(name, base_url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
