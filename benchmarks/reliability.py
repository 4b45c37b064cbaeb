"""Reliability suite: malformed requests, a new version under load, soak, killed stubs, overload at 4× and 16×.

    .venv/bin/python -m benchmarks.reliability [--repository DIR] [--window 10] [--soak 60]

Exports the bundled all-MiniLM-L6-v2 for CPU (ONNX, the export's default serving path: the one-step model;
``--serving ensemble`` for the ensemble) unless ``--repository`` holds an export already, serves it with the
local Triton and drives ``minilm`` with closed-loop load of short texts over HTTP. First
finds the concurrency the machine sustains (the knee of throughput over concurrency), then runs each test
and prints one table: requests, failures, p99 of the answered, recovery time. Writes it as markdown and JSON
into ``benchmarks/results/reliability-<time>/``. A benchmark, not a test: the machine is shared, so the
numbers are indicative. About 5 minutes with the defaults.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from benchmarks.closed_loop import ClosedLoop, LoadResult, run_for
from benchmarks.machine import cpu_busy, describe_machine
from client.connection import DEFAULT_RETRIES
from client.text_client import TextClient
from export.settings import ExportSettings, QueuePolicy
from export.triton_config import queue_policy
from server import health
from server.local import LocalTriton
from tritonize import local_http
from tritonize.repo_format.files import CONFIG_FILENAME
from tritonize.repo_format.pbtxt import parse, read_config, render
from tritonize.repo_format.tokenizer_folder import is_one_step

NAME = "minilm"
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    test: str
    requests: int
    failed: int
    p99_ms: float
    recovery_s: float | None
    note: str = ""

    def markdown(self) -> str:
        """The row as a markdown table line."""
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return (f"| {self.test} | {self.requests:,} | {self.failed:,} | {self.p99_ms:.0f} ms | {recovery} | "
                f"{self.note} |")


def export_repository(repository: Path, serving: str | None) -> Path:
    """The bundled MiniLM for CPU instances, exported unless already there (``serving``: the export's default)."""
    if not (repository / NAME).is_dir():
        from export.pipeline import run_export

        run_export(ExportSettings(repository=repository, name=NAME, instance_kind="cpu", formats=("onnx",),
                                  serving=serving))
    return repository


def served_steps(repository: Path) -> list[str]:
    """The Python-backend models a request to ``NAME`` runs: the one-step model, or the ensemble's two steps."""
    if is_one_step(read_config(repository / NAME)):
        return [NAME]
    return [f"{NAME}_tokenizer", f"{NAME}_onnx"]


def with_queue_policy(repository: Path, queue: QueuePolicy, work: Path) -> Path:
    """A copy of ``repository`` whose batched models all have the queue policy ``queue``."""
    copy = work / "queue-repository"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(repository, copy)
    for path in copy.glob(f"*/{CONFIG_FILENAME}"):
        config = parse(path.read_text())
        if config.HasField("dynamic_batching"):
            config.dynamic_batching.default_queue_policy.CopyFrom(queue_policy(queue))
            path.write_text(render(config))
    return copy


def post(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """POST raw bytes; the status and the answer's error message (empty on success)."""
    answer = local_http.request(f"http://{url}{path}", body, method="POST", timeout=60,
                                headers={"Content-Type": "application/json", **(headers or {})})
    if 200 <= answer.status < 300:
        return answer.status, ""
    text = answer.body.decode(errors="replace") or answer.error
    try:
        return answer.status, str(json.loads(text).get("error", text))
    except ValueError:
        return answer.status, text


def malformed(url: str) -> Row:
    """15 requests a caller gets wrong: each must get a 4xx with a message, and the server stays ready."""
    def infer(inputs: object, model: str = NAME) -> bytes:
        return json.dumps({"inputs": inputs}).encode()

    def text(data: list, shape: list[int] | None = None, datatype: str = "BYTES", name: str = "TEXT") -> list:
        return [{"name": name, "datatype": datatype, "shape": shape or [len(data), 1], "data": data}]

    cases: list[tuple[str, bytes, str]] = [
        ("empty text", infer(text([""])), NAME),
        ("whitespace text", infer(text(["   "])), NAME),
        ("1M chars", infer(text(["word " * 200_000])), NAME),
        ("NUL bytes", infer(text(["a\u0000b"])), NAME),
        ("invalid UTF-8", b'{"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[1,1],"data":["ok \xff"]}]}', NAME),
        ("batch 65 > 64", infer(text(["x"] * 65)), NAME),
        ("batch 0", infer(text([], [0, 1])), NAME),
        ("wrong dtype", infer(text([1], datatype="INT64")), NAME),
        ("wrong input name", infer(text(["x"], name="TEXTS")), NAME),
        ("wrong shape", infer(text(["x"], [1, 2])), NAME),
        ("shape/data mismatch", infer(text(["x", "y"], [3, 1])), NAME),
        ("malformed JSON", b'{"inputs": [', NAME),
        ("no inputs", infer([]), NAME),
        ("data not a list", b'{"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[1,1],"data":"x"}]}', NAME),
        ("unknown model", infer(text(["x"])), "missing"),
    ]
    statuses, unclear, server_side = [], [], []
    for label, body, model in cases:
        status, message = post(url, f"/v2/models/{model}/infer", body)
        statuses.append(status)
        if status == 0 or (status >= 400 and not message):
            unclear.append(f"{label}: {status}")
        elif status >= 500:
            server_side.append(label)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    note = "answered " + ", ".join(f"{s}×{n}" for s, n in counts.items())
    note += f" (500: {', '.join(server_side)})" if server_side else ""
    note += "; without a message: " + "; ".join(unclear) if unclear else ""
    return Row("15 malformed requests", len(cases), len(unclear), 0.0, None, note)


def sustained_concurrency(url: str, window: float) -> tuple[int, dict[int, float]]:
    """The smallest concurrency reaching 85 % of the best throughput seen (1, 2, 4, 8, 16)."""
    throughput = {}
    for concurrency in (1, 2, 4, 8, 16):
        throughput[concurrency] = run_for(url, NAME, concurrency, window).throughput()
    best = max(throughput.values())
    return next(c for c, t in throughput.items() if t >= 0.85 * best), throughput


def server_memory(pid: int) -> int:
    """Resident memory of ``tritonserver`` and its stub processes, in bytes."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if int(entry.name) == pid or int(fields["PPid"]) == pid:
                    total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
            except (OSError, ValueError, KeyError):
                continue
    return total


def soak(server: LocalTriton, concurrency: int, seconds: float) -> Row:
    """Steady load: no failures, and the server tree's memory."""
    assert server.pid is not None
    run_for(server.http_url, NAME, concurrency, 3)
    before = server_memory(server.pid)
    result = run_for(server.http_url, NAME, concurrency, seconds)
    growth = server_memory(server.pid) / before - 1
    kinds = f"; failed: {result.kinds()}" if result.failed else ""
    return Row(f"soak, c{concurrency}, {seconds:g} s", len(result.outcomes), len(result.failed), result.p99_ms(),
               None, f"memory of the server tree {growth:+.1%}{kinds}")


def new_version_in_place(repository: Path, model: str, concurrency: int) -> Row:
    """Poll mode: a new version of ``model`` (the one holding ``model.onnx``) copied into place slowly, under load."""
    source = repository / model / "1"
    target = repository / model / "2"
    shutil.rmtree(target, ignore_errors=True)
    with LocalTriton(repository, model_control_mode="poll", repository_poll_secs=1) as server:
        began = time.monotonic()
        with ClosedLoop(server.http_url, NAME, concurrency) as load:
            time.sleep(2)
            target.mkdir()
            for item in sorted(source.iterdir()):
                data = item.read_bytes()
                with open(target / item.name, "wb") as file:
                    for offset in range(0, len(data), max(1, len(data) // 8)):  # about 2 s per file
                        file.write(data[offset:offset + max(1, len(data) // 8)])
                        file.flush()
                        time.sleep(0.25)
            served = _wait_for(lambda: any(m.name == model and m.version == "2" and m.state == "READY"
                                           for m in server.models()), 30)
            time.sleep(3)
        failures = server.load_failures()[0]
    shutil.rmtree(target, ignore_errors=True)
    result = load.result
    note = (f"v2 READY {served - began:.1f} s after start of load" if served else "v2 never READY") + (
        f"; {len(failures)} load failure(s)" if failures else "") + (
        f"; failed: {result.kinds()}" if result.failed else "")
    return Row(f"new {model} version copied in place under load, poll, c{concurrency}", len(result.outcomes),
               len(result.failed), result.p99_ms(), None, note)


def _wait_for(condition: Callable[[], bool], seconds: float) -> float | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.1)
    return None


def stub_killed(repository: Path, model: str, concurrency: int) -> Row:
    """A stub of ``model`` killed under load: failures of plain clients and of retrying ones, time to heal."""
    with LocalTriton(repository) as server:
        assert server.pid is not None
        plain = ClosedLoop(server.http_url, NAME, concurrency // 2).start()
        retrying = ClosedLoop(server.http_url, NAME, concurrency - concurrency // 2, retries=DEFAULT_RETRIES).start()
        time.sleep(2)
        victim = next(s for s in health.stubs(server.pid)[0] if s.model == model)
        killed = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        _wait_for(lambda: bool(server.heals), 10)
        time.sleep(5)
        first, second = plain.stop(), retrying.stop()
        heal = server.heals[0] if server.heals else None
    failed = [o for o in first.failed if o.start >= killed - 2]
    last = max((o.end for o in failed), default=killed)
    outcomes = first.outcomes + second.outcomes
    note = (f"reloaded in {heal.reloaded_s - heal.detected_s:.1f} s; " if heal else "not healed; ") + (
        f"{len(failed)} failed without retries ({LoadResult(failed).kinds()}), {len(second.failed)} with "
        f"--retries {DEFAULT_RETRIES}")
    p99 = LoadResult(first.answered + second.answered).p99_ms()
    return Row(f"{model} stub killed under load, c{concurrency}", len(outcomes), len(failed) + len(second.failed),
               p99, last - killed, note)


def detection_without_healing(repository: Path, model: str) -> Row:
    """Without the watchdog (the container): how soon the stub check, and a canary alone, see the dead stub."""
    with LocalTriton(repository, heal=False) as server:
        assert server.pid is not None
        url = f"http://{server.http_url}"
        victim = next(s for s in health.stubs(server.pid)[0] if s.model == model)
        killed = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        stub_check = _wait_for(lambda: bool(health.check(url, [server.pid])), 10)
        canary = _wait_for(lambda: bool(health.canary(url)), 10)
        ready = server.is_ready()
    seen = "-" if stub_check is None else f"{stub_check - killed:.2f} s"
    canary_seen = "not within 10 s" if canary is None else f"{canary - killed:.2f} s"
    return Row(f"{model} stub killed, no healing (health check)", 0, 0, 0.0, None,
               f"stub check unhealthy after {seen}; canary alone: {canary_seen}; Triton's own ready: {ready}")


def overload(server: LocalTriton, factor: int, concurrency: int, seconds: float, baseline_ms: float) -> Row:
    """``factor`` × the sustained concurrency: refused share, p99 of the accepted, recovery once load drops.

    Recovery: from the moment the load drops (its requests in flight still drain) until one client's request
    is answered within twice the single-client p99.
    """
    load = ClosedLoop(server.http_url, NAME, factor * concurrency).start()
    time.sleep(seconds)
    load.drop()
    dropped = time.monotonic()
    with ClosedLoop(server.http_url, NAME, 1) as probe:
        recovered = _wait_for(lambda: any(not o.error and (o.end - o.start) * 1000 <= 2 * baseline_ms
                                          for o in list(probe.result.outcomes)), 30)
    result = load.stop()
    full = [o for o in result.failed if "Exceeds maximum queue size" in o.error]
    expired = [o for o in result.failed if "timeout" in o.error.lower()]
    other = len(result.failed) - len(full) - len(expired)
    total = max(1, len(result.outcomes))
    note = (f"refused with 503: {len(full) / total:.0%} at once (queue full), {len(expired) / total:.0%} after "
            f"the queue timeout" + (f"; {other} other failures" if other else "")
            + f"; {result.throughput():.0f} answered/s")
    return Row(f"overload {factor}× (c{factor * concurrency}), {seconds:g} s", len(result.outcomes),
               len(result.failed), result.p99_ms(), None if recovered is None else recovered - dropped, note)


def predict_under_overload(server: LocalTriton, concurrency: int, texts: int) -> Row:
    """``client predict`` beside 16× load of clients that back off as it does: every text delivered, in order."""
    corpus = [f"review number {i}: the battery lasts {i % 7} days" for i in range(texts)]
    crowd = ClosedLoop(server.http_url, NAME, 16 * concurrency, retries=DEFAULT_RETRIES, timeout=10)
    with crowd, TextClient(server.http_url) as client:
        began = time.monotonic()
        try:
            predictions = client.predict(corpus, model=NAME, batch_size=16, concurrency=4)
            ok = [p.index for p in predictions] == list(range(texts))
            note = "every text delivered, in order" if ok else "texts missing or out of order"
            failed = 0 if ok else 1
        except Exception as error:  # noqa: BLE001 - reported in the table
            note, failed = f"failed: {error}", 1
        took = time.monotonic() - began
    return Row(f"client predict {texts} texts beside 16× load", texts, failed, took * 1000, None,
               f"{note} in {took:.0f} s (default --retries; p99 column: the whole run)")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path),
              help="A repository holding the bundled MiniLM exported as 'minilm' [default: export one].")
@click.option("--window", type=click.FloatRange(min=1), default=10.0, help="Seconds of each overload run.")
@click.option("--soak", "soak_s", type=click.FloatRange(min=1), default=60.0, help="Seconds of the soak.")
@click.option("--max-queue-size", type=click.IntRange(min=0),
              help="Serve with this queue size instead of the exported one (to compare policies).")
@click.option("--queue-timeout-ms", type=click.IntRange(min=0), help="... and this queue timeout.")
@click.option("--only-overload", is_flag=True, help="Run only the capacity search and the overload rows.")
@click.option("--serving", type=click.Choice(["one-step", "ensemble"]),
              help="Serving path of the export this suite makes [default: the export's default].")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), help="Results folder.")
def main(repository: Path | None, window: float, soak_s: float, max_queue_size: int | None,
         queue_timeout_ms: int | None, only_overload: bool, serving: str | None, output: Path | None) -> None:
    """Run the reliability suite on the local Triton and print its table (indicative: the machine is shared)."""
    busy = cpu_busy(2.0)
    work = Path(tempfile.mkdtemp(prefix="tritonize-reliability-"))
    repository = export_repository(repository or work / "model_repository", serving)
    steps = served_steps(repository)
    if max_queue_size is not None or queue_timeout_ms is not None:
        exported = QueuePolicy()
        queue = QueuePolicy(exported.max_queue_size if max_queue_size is None else max_queue_size,
                            exported.timeout_ms if queue_timeout_ms is None else queue_timeout_ms)
        repository = with_queue_policy(repository, queue, work)
    rows: list[Row] = []
    with LocalTriton(repository) as server:
        if not only_overload:
            rows.append(malformed(server.http_url))
            ready = server.is_ready()
            rows[-1] = Row(rows[-1].test, rows[-1].requests, rows[-1].failed + (not ready), 0.0, None,
                           rows[-1].note + ("" if ready else "; server NOT ready after"))
        concurrency, curve = sustained_concurrency(server.http_url, 4.0)
        click.echo(f"throughput by concurrency: { {c: round(t) for c, t in curve.items()} }; sustained: c{concurrency}")
        baseline = run_for(server.http_url, NAME, 1, 3.0).p99_ms()
        if not only_overload:
            rows.append(soak(server, concurrency, soak_s))
        for factor in (4, 16):
            rows.append(overload(server, factor, concurrency, window, baseline))
        rows.append(predict_under_overload(server, concurrency, 2000))
    if not only_overload:
        rows.append(new_version_in_place(repository, steps[-1], concurrency))
        for model in steps:
            rows.append(stub_killed(repository, model, 16))
            rows.append(detection_without_healing(repository, model))
    table = ["| test | requests | failed | p99 | recovery | notes |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    table += [row.markdown() for row in rows]
    policy = read_config(repository / steps[-1]).dynamic_batching.default_queue_policy
    header = (f"{' → '.join(steps)}; CPU busy before start (other processes): {busy:.0%}; "
              f"sustained concurrency c{concurrency}; "
              f"single-client p99 {baseline:.0f} ms; queue policy: max_queue_size {policy.max_queue_size}, "
              f"timeout {policy.default_timeout_microseconds // 1000} ms")
    click.echo(header)
    click.echo("\n".join(table))
    folder = output or RESULTS / f"reliability-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reliability.md").write_text(header + "\n\n" + "\n".join(table) + "\n")
    (folder / "reliability.json").write_text(json.dumps(
        {"machine": describe_machine(), "cpu_busy_before": busy, "sustained_concurrency": concurrency,
         "throughput_by_concurrency": curve, "baseline_p99_ms": baseline, "rows": [asdict(r) for r in rows]},
        indent=2))
    click.echo(f"wrote {folder}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
