"""Health of a running Triton beyond ``/v2/health/ready``: dead Python-backend stubs, optional canary inference.

Triton 2.51 keeps a model READY after one of its ``triton_python_backend_stub`` processes died; the requests
that instance takes fail. The stub is never reaped, so it stays a zombie child of ``tritonserver``: this
module finds such zombies in ``/proc``. The Docker image runs it as its HEALTHCHECK (Kubernetes: the same
command as readiness and liveness probe)::

    python3 health.py --url http://localhost:8000            # exit 0 healthy, 1 not (one line on stdout why)

Standard library only, Python 3.10: it runs on the Triton image's own Python, copied there with the one
module it imports, :mod:`tritonize.local_http` (``/opt/tritonize/health.py`` and ``/opt/tritonize/tritonize/``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tritonize import local_http

#: Where the kernel lists processes.
PROC = Path("/proc")
#: The stub's executable, as ``/proc/<pid>/stat`` names it (15 characters at most).
STUB_COMM = "triton_python_b"
SERVER_COMM = "tritonserver"
#: A stub Triton stops (a model unloaded, a version replaced) is a zombie for a moment too: only one that stays
#: a zombie this long counts as dead.
ZOMBIE_GRACE_S = 0.5
#: What the canary sends through each ensemble with a text input.
CANARY_TEXT = "health check"


@dataclass(frozen=True)
class Stub:
    """One Python-backend stub process of a Triton server.

    Attributes:
        pid: Process id.
        model: The model it serves (its ``model.py`` lives in ``<model>/<version>/``).
        instance: Triton's instance name (``tiny_onnx_0_1``).
    """

    pid: int
    model: str
    instance: str


def _processes(proc: Path = PROC) -> list[tuple[int, str, str, int]]:
    """``(pid, name, state, parent pid)`` of every process this one can see."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                found.append((int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")], fields[0], int(fields[1])))
            except (OSError, ValueError, IndexError):
                continue
    return found


def server_pids() -> list[int]:
    """Every ``tritonserver`` process visible (in a container: the one server)."""
    return [pid for pid, name, _, _ in _processes() if name == SERVER_COMM]


def stubs(server_pid: int, proc: Path = PROC) -> tuple[list[Stub], list[int]]:
    """The live stubs of ``server_pid`` (from their command lines), and the pids of its dead stubs.

    Dead: zombies, and stubs in the middle of exiting (no command line left, not yet zombies; were they left
    out, a watcher that looked then would take the stub for reaped and forget it). A dead stub's command line
    is gone, so only its pid is known: remember the live ones to name the dead.
    """
    live, dead = [], []
    for pid, name, state, parent in _processes(proc):
        if parent != server_pid or name != STUB_COMM:
            continue
        if state == "Z":
            dead.append(pid)
            continue
        try:
            cmdline = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if not cmdline:  # exiting: its memory, command line included, is gone before it turns zombie
            dead.append(pid)
            continue
        stub = parse_stub(pid, cmdline)
        if stub is not None:
            live.append(stub)
    return live, dead


def parse_stub(pid: int, cmdline: bytes) -> Stub | None:
    """Model and instance of a stub, from its command line (``stub <model>/<version>/model.py ... <instance>``)."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    if len(args) < 3 or not args[1].endswith(".py"):
        return None
    return Stub(pid, Path(args[1]).parent.parent.name, args[-2])


def _request(url: str, body: dict | None, timeout: float) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if os.environ.get("TRITONIZE_API_KEY"):  # the admin key (server.flags): the canary reads the repository index
        headers["tritonize-admin-key"] = os.environ["TRITONIZE_API_KEY"]
    answer = local_http.request(url, data, headers=headers, timeout=timeout)
    if answer.status == 0:
        return 0, {"error": answer.error}
    try:
        return answer.status, json.loads(answer.body) if answer.body else {}
    except ValueError as error:
        return (0, {"error": str(error)}) if answer.status < 400 else (answer.status, {})


def canary(url: str, timeout: float = 3.0) -> list[str]:
    """Send one text through every ready ensemble with a text input; return what failed.

    A refusal for overload (503) passes: a busy server is not a broken one.
    """
    status, index = _request(f"{url}/v2/repository/index", {"ready": True}, timeout)
    if status != 200:
        return [f"repository index: HTTP {status}"]
    problems = []
    for model in index:
        name = model["name"]
        status, config = _request(f"{url}/v2/models/{name}/config", None, timeout)
        texts = [i for i in config.get("input", []) if i.get("data_type") == "TYPE_STRING"]
        if status != 200 or config.get("platform") != "ensemble" or len(texts) != len(config.get("input", [])):
            continue
        batch = [1] if config.get("max_batch_size", 0) > 0 else []
        inputs = [{"name": i["name"], "datatype": "BYTES", "data": [CANARY_TEXT],
                   "shape": batch + [1 if int(d) < 0 else int(d) for d in i.get("dims", [])]} for i in texts]
        status, answer = _request(f"{url}/v2/models/{name}/infer", {"inputs": inputs}, timeout)
        if status not in (200, 503):
            problems.append(f"{name}: HTTP {status} {answer.get('error', '')}".rstrip())
    return problems


def check(url: str, pids: list[int] | None = None, with_canary: bool = False, timeout: float = 3.0) -> list[str]:
    """Everything that makes the server unfit to serve; empty when healthy.

    Args:
        url: Triton's HTTP address (``http://localhost:8000``).
        pids: The ``tritonserver`` processes to look at; ``None``: every one visible.
        with_canary: Also send a real inference through each ensemble.
        timeout: Seconds per HTTP request.
    """
    url = url.rstrip("/")
    status, body = _request(f"{url}/v2/health/ready", None, timeout)
    if status != 200:
        return [f"not ready (HTTP {status}{': ' + body['error'] if body.get('error') else ''})"]
    problems = []
    for pid in server_pids() if pids is None else pids:
        dead = stubs(pid)[1]
        if dead:
            time.sleep(ZOMBIE_GRACE_S)
            dead = sorted(set(dead) & set(stubs(pid)[1]))
        if dead:
            problems.append(f"{len(dead)} Python-backend stub process(es) of tritonserver {pid} died "
                            f"(pids {', '.join(map(str, dead))}): requests to their model instances fail")
    if with_canary:
        problems += canary(url, timeout)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print ``healthy`` and return 0, or print each problem and return 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8000", help="Triton's HTTP address.")
    parser.add_argument("--pid", type=int, action="append", help="tritonserver process (default: every one).")
    parser.add_argument("--canary", action="store_true", help="Also infer one text through each ensemble.")
    parser.add_argument("--timeout", type=float, default=3.0, help="Seconds per HTTP request.")
    options = parser.parse_args(argv)
    problems = check(options.url, options.pid, options.canary, options.timeout)
    print("\n".join(problems) if problems else "healthy")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
