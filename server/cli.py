"""Command line of ``python -m server``: serve a model repository with the bundled Triton until Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from server.flags import API_KEY_ENV, API_KEY_HEADER, RESTRICTED_APIS, ServerFlags
from tritonize.cli_errors import debug_option, report, requires_extras
from tritonize.errors import TritonizeError

if TYPE_CHECKING:
    from server.local import LocalTriton

_FLAGS = ServerFlags()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), default=Path("model_repository"),
              envvar="TRITONIZE_REPOSITORY", show_envvar=True, help="Triton model repository to serve (unchanged).")
@click.option("--host", default="127.0.0.1",
              help="Interface HTTP, gRPC and metrics listen on; 0.0.0.0 exposes the server to the network (it warns: "
                   "the local Triton 2.51 has known unauthenticated vulnerabilities, docs/security.md).")
@click.option("--api-key", envvar=API_KEY_ENV, show_envvar=True,
              help=f"Require this key in the '{API_KEY_HEADER}' header for the administrative APIs "
                   f"({', '.join(RESTRICTED_APIS)}) [default: unrestricted].")
@click.option("--http-port", type=click.IntRange(1, 65535), default=_FLAGS.http_port, help="HTTP/REST port.")
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=_FLAGS.grpc_port, help="gRPC port.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=_FLAGS.metrics_port,
              help="Prometheus metrics port.")
@click.option("--model-control-mode", type=click.Choice(["none", "poll", "explicit"]),
              default=_FLAGS.model_control_mode,
              help="none: load everything once; poll: pick up new versions and models; explicit: load on request.")
@click.option("--poll-secs", type=click.IntRange(min=1), default=_FLAGS.repository_poll_secs,
              help="How often poll mode rescans the repository.")
@click.option("--ready-timeout", type=click.FloatRange(min=0), default=120.0,
              help="Seconds to wait until the server and every model are ready.")
@click.option("--explain", is_flag=True,
              help="Print, model by model, how the bundled server will serve the repository, and exit.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep Triton's log in this file [default: a temporary file, removed at exit].")
@click.option("--cpu-only", is_flag=True, help="Run every instance on CPU even when a GPU is visible.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and warnings (no banner, no notes).")
@click.option("--gateway-port", type=click.IntRange(1, 65535),
              help="Also serve the OpenAI-compatible embeddings/rerank gateway on this port (loopback; needs the "
                   "'gateway' extra; see docs/gateway.md).")
@debug_option("Show stack traces and Triton's full error messages; Triton logs verbosely (see --log-file).")
@requires_extras
def main(repository: Path, host: str, api_key: str | None, http_port: int, grpc_port: int, metrics_port: int,
         model_control_mode: str,
         poll_secs: int, ready_timeout: float, explain: bool, log_file: Path | None, cpu_only: bool, quiet: bool,
         debug: bool, gateway_port: int | None = None) -> None:
    """Serve a Triton model repository with the real Triton Inference Server 2.51, locally, on CPU.

    The repository is served unchanged: models whose backend the bundled server lacks (ONNX Runtime,
    libtorch) run through Python-backend adapters with the same names, tensors, batching and versions, in
    a temporary shadow repository. Exit codes: 0 stopped with Ctrl-C, 1 server error, 2 usage error.
    """
    from server.local import LocalTriton

    _configure_logging(debug, quiet)
    say = (lambda text, err=False: None) if quiet else click.echo
    server = LocalTriton(
        repository, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
        model_control_mode=model_control_mode, repository_poll_secs=poll_secs, ready_timeout=ready_timeout,
        log_path=log_file, log_verbose=1 if debug else 0, gpu_count=0 if cpu_only else None,
        host=host, api_key=api_key,
    )
    gateway = None
    try:
        if explain:
            click.echo(server.explain())
            click.echo(_release_explanation())
            return
        if not _loopback(host):
            click.echo(_exposure_warning(host), err=True)
        stop = threading.Event()
        try:
            with _stop_signals(stop) as serving:
                models = server.translations  # a missing repository fails here, before anything is printed
                say(f"Starting Triton on {server.repository} ({len(models)} models) …", err=True)
                server.start()
                if gateway_port is not None:
                    from server.gateway_child import start_gateway

                    gateway = start_gateway(server, gateway_port)
                say(_banner(server, log_file))
                if gateway is not None:
                    say(f"  Gateway  {gateway.url}/v1 (OpenAI embeddings, rerank; {gateway.url}/health)")
                serving()
                server.serve(lambda failure: click.echo(f"error: {failure.detail if debug else failure.line}",
                                                        err=True), stop=stop)
        except KeyboardInterrupt:
            pass  # a signal during start-up: stop all the same
        say("Stopping Triton …", err=True)
        if gateway is not None:
            gateway.stop()
        server.stop()
        say("Stopped.", err=True)
    except TritonizeError as error:
        raise report(error, debug) from None
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _exposure_warning(host: str) -> str:
    """One line: the local Triton listens beyond this machine, and what it is known to be vulnerable to."""
    from tritonize.releases import LOCAL_RELEASE, release

    local = release(LOCAL_RELEASE)
    serious = local.serious_bulletins
    critical = ", ".join(b.cve for b in serious if b.severity == "critical")
    return (f"warning: listening on {host}: anyone who reaches this machine reaches Triton {local.triton} "
            f"({LOCAL_RELEASE}), which has {len(serious)} known critical/high unauthenticated vulnerabilities "
            f"(critical: {critical}); use it on trusted networks only (docs/security.md).")


def _release_explanation() -> str:
    """How the local Triton differs from the releases exports target, for ``--explain``."""
    from tritonize.releases import DEFAULT_RELEASE, LOCAL_RELEASE, local_differences, release

    local = release(LOCAL_RELEASE)
    lines = ["", f"Local server: Triton {local.triton} (NGC {LOCAL_RELEASE}, the newest the PyPI wheel has)."]
    lines.append(local_differences(DEFAULT_RELEASE, LOCAL_RELEASE) or "")
    lines.append("Any release exported for (python -m export --triton-release) serves here unchanged.")
    return "\n".join(lines)


def _banner(server: LocalTriton, log_file: Path | None) -> str:
    """Where the server listens, and every model with its state and what serves it."""
    from server.bundle import TRITON_VERSION

    ports = server.ports
    host = "localhost" if _loopback(server.host) else server.host
    served = {t.name: t.summary() for t in server.translations}
    models = server.models()
    width = max((len(m.name) for m in models), default=0)
    lines = [
        f"Triton {TRITON_VERSION} is serving {server.repository} (ready in {server.startup_seconds:.1f} s)",
        f"  HTTP     http://{host}:{ports['http']}",
        f"  gRPC     {host}:{ports['grpc']}",
        f"  Metrics  http://{host}:{ports['metrics']}/metrics",
        f"  Models   {len(models)}",
    ]
    lines += [f"    {m.name:<{width}}  v{m.version or '-'}  {m.state:<7}  {served.get(m.name, '')}" for m in models]
    if log_file is not None:
        lines.append(f"  Log      {server.log_path}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


@contextlib.contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[Callable[[], None]]:
    """SIGTERM and SIGINT (Ctrl-C) stop the server; yields the call that says start-up is over.

    During start-up a signal interrupts it (KeyboardInterrupt); once serving, it only sets ``stop``, which
    :meth:`LocalTriton.serve` watches, so no exception lands inside a wait on the server process. SIGINT gets
    a handler even when inherited as ignored: a process started in the background by a non-interactive shell
    must still stop on Ctrl-C (``kill -INT``).
    """
    serving = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if not serving.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield serving.set
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _configure_logging(debug: bool, quiet: bool = False) -> None:
    """Show the library's notes (what was translated, what was dropped) on stderr; only warnings when ``quiet``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if debug else "note: %(message)s"))
    package = logging.getLogger("server")
    package.handlers[:] = [handler]
    package.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    package.propagate = False
