"""The peers' own virtual environments, built once into the cache folder (not timing runs).

- ``infinity``: infinity-emb 0.0.78 with its optimum (ONNX Runtime) engine, torch pinned (``TORCH``; on this
  machine pip resolves the CPU wheel for that pin). One source patch is applied programmatically after the
  install (:func:`patch_infinity`): infinity passes optimum an absolute ``file_name`` that optimum rejects.
- ``naive``: FastAPI + uvicorn + transformers + the same torch, for :mod:`benchmarks.naive_app`.
- ``ortx`` (:mod:`benchmarks.in_graph_tokenizer`): onnxruntime-extensions for the in-graph tokenizer probe.

Each venv lives in ``<cache>/peers/<name>/``; a ``.ready`` stamp written last (holding the requirements) marks
a finished build, so an interrupted one, or one built from other requirements, is rebuilt. Nothing here
touches the project's own environment. Sizes and build times on the 2-core machine (busy): infinity 1,247 MB
in 186 s, naive 1,099 MB in 162 s, ortx 396 MB in 100 s (warm pip cache).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from export.release_check import cache_root

#: torch for both peers (the issue's reproduction pins it).
TORCH = "torch==2.13.0"
INFINITY = "infinity-emb[server,optimum]==0.0.78"


@dataclass(frozen=True)
class PeerEnv:
    """One peer's virtual environment.

    Attributes:
        name: Folder name under ``<cache>/peers``.
        requirements: pip install steps, in order (each one ``pip install`` call).
        patch: Applied to the venv's site-packages after the installs.
    """

    name: str
    requirements: tuple[tuple[str, ...], ...]
    patch: Callable[[Path], None] | None = None

    @property
    def folder(self) -> Path:
        """Where the venv lives."""
        return cache_root() / "peers" / self.name

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.folder / "bin" / "python"

    def bin(self, tool: str) -> Path:
        """A console script of the venv."""
        return self.folder / "bin" / tool


def site_packages(venv: Path) -> Path:
    """The venv's site-packages folder."""
    return next((venv / "lib").glob("python3*/site-packages"))


#: The line infinity 0.0.78 writes (``file_name=onnx_file.as_posix()``, an absolute path) and what it becomes.
_FILE_NAME = re.compile(r"file_name=onnx_file\.as_posix\(\)")


def patch_infinity(venv: Path) -> None:
    """Pass optimum the ONNX file's name instead of its absolute path (optimum refuses a path there).

    Raises:
        RuntimeError: The line to patch is not in this infinity version (the benchmark would serve wrong files).
    """
    path = site_packages(venv) / "infinity_emb" / "transformer" / "embedder" / "optimum.py"
    source = path.read_text()
    if "file_name=onnx_file.name" in source:
        return
    patched, count = _FILE_NAME.subn("file_name=onnx_file.name", source)
    if count == 0:
        raise RuntimeError(f"{path}: no `file_name=onnx_file.as_posix()` to patch; is infinity-emb 0.0.78 installed?")
    path.write_text(patched)


INFINITY_ENV = PeerEnv("infinity-0.0.78-torch2.13.0", ((TORCH,), (INFINITY,)), patch_infinity)
NAIVE_ENV = PeerEnv("naive-fastapi-torch2.13.0", ((TORCH,), ("fastapi", "uvicorn", "transformers")))


def versions(env: PeerEnv, packages: tuple[str, ...] = ("infinity-emb", "optimum", "onnxruntime", "torch",
                                                         "transformers", "fastapi")) -> dict[str, str]:
    """Installed versions of ``packages`` in ``env`` (those present), for the report."""
    script = ("import json, importlib.metadata as m\n"
              f"found = {{}}\nfor p in {list(packages)!r}:\n"
              "    try:\n        found[p] = m.version(p)\n    except m.PackageNotFoundError:\n        pass\n"
              "print(json.dumps(found))")
    result = subprocess.run([str(env.python), "-c", script], capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def ensure(env: PeerEnv, say: Callable[[str], None] = lambda _: None) -> PeerEnv:
    """Build ``env`` once (venv, installs, patch); return it. Says what it does, with size and time.

    Raises:
        RuntimeError: A pip step failed (its last line of output is in the message).
    """
    stamp = env.folder / ".ready"
    wanted = json.dumps(env.requirements)
    if stamp.is_file() and stamp.read_text().splitlines()[0] == wanted:
        if env.patch:
            env.patch(env.folder)  # idempotent: a venv built before the patch existed gets it too
        return env
    shutil.rmtree(env.folder, ignore_errors=True)
    env.folder.parent.mkdir(parents=True, exist_ok=True)
    say(f"Building the peer venv {env.folder} once (a few minutes) …")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(env.folder)], check=True)
    for step in env.requirements:
        result = subprocess.run([str(env.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 *step], capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise RuntimeError(f"pip install {' '.join(step)} into {env.folder} failed: {reason}")
    if env.patch:
        env.patch(env.folder)
    size = sum(p.stat().st_size for p in env.folder.rglob("*") if p.is_file())
    stamp.write_text(f"{wanted}\n{size} bytes, {time.monotonic() - started:.0f} s\n")
    say(f"Built {env.name}: {size / 1024**2:,.0f} MB in {time.monotonic() - started:.0f} s.")
    return env
