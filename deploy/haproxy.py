"""HAProxy in front of the replicas: health checks on Triton's readiness, retries to another replica, drain."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.processes import Process, executable

BACKEND = "triton"
#: The balancer's own liveness URI (answered by HAProxy itself).
MONITOR_URI = "/haproxy/alive"


@dataclass(frozen=True)
class Replica:
    """One server behind the balancer.

    Attributes:
        name: Server name in HAProxy (and the ``pod`` label in Prometheus).
        http_port: Triton's HTTP port on 127.0.0.1.
    """

    name: str
    http_port: int


@dataclass(frozen=True)
class BalancerSettings:
    """How HAProxy balances, checks and retries.

    Attributes:
        port: Port the balancer listens on (127.0.0.1).
        check_interval_ms: Health check period (``GET /v2/health/ready`` must answer 200).
        fall: Failed checks before a replica is taken out.
        rise: Passed checks before it is put back.
        retries: Retries of a failed request, each on another replica (``option redispatch``).
        connect_timeout_ms: Connect timeout to a replica.
        server_timeout_s: How long a replica may take to answer.
    """

    port: int
    check_interval_ms: int = 500
    fall: int = 2
    rise: int = 2
    retries: int = 3
    connect_timeout_ms: int = 500
    server_timeout_s: int = 30


def render_config(settings: BalancerSettings, replicas: Sequence[Replica], admin_socket: Path) -> str:
    """haproxy.cfg for the replicas: health-checked on readiness, failed requests retried on another replica."""
    lines = [
        "global",
        "    maxconn 512",
        f"    stats socket {admin_socket} mode 600 level admin",
        "",
        "defaults",
        "    mode http",
        f"    timeout connect {settings.connect_timeout_ms}ms",
        "    timeout client 60s",
        f"    timeout server {settings.server_timeout_s}s",
        "    option http-buffer-request",
        # A refused connection, a reset, an empty answer or a 503 of a stopping Triton: try another replica.
        f"    retries {settings.retries}",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response junk-response response-timeout 502 503 504",
        "",
        "frontend inference",
        f"    bind 127.0.0.1:{settings.port}",
        f"    monitor-uri {MONITOR_URI}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance leastconn",
        "    option httpchk GET /v2/health/ready",
        "    http-check expect status 200",
        f"    default-server inter {settings.check_interval_ms}ms fall {settings.fall} rise {settings.rise}",
    ]
    lines += [f"    server {r.name} 127.0.0.1:{r.http_port} check" for r in replicas]
    return "\n".join(lines) + "\n"


class Balancer:
    """HAProxy running on ``settings.port`` (unprivileged, foreground, config in ``workdir``)."""

    def __init__(self, settings: BalancerSettings, replicas: Sequence[Replica], workdir: Path) -> None:
        self.settings = settings
        self.admin_socket = workdir / "haproxy.sock"
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(render_config(settings, replicas, self.admin_socket))
        binary = executable("haproxy", "haproxy")
        self._process = Process("haproxy", [binary, "-db", "-f", str(self.config_path)], workdir)
        self._process.wait_http(f"http://127.0.0.1:{settings.port}{MONITOR_URI}")

    @property
    def url(self) -> str:
        """``127.0.0.1:PORT`` (tritonclient's form)."""
        return f"127.0.0.1:{self.settings.port}"

    def command(self, line: str) -> str:
        """Send one command to HAProxy's runtime API; return its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.admin_socket))
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """``show stat`` of the backend's servers by name (status, scur, wretr, wredis, ...)."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == BACKEND and row["svname"] not in (
            "FRONTEND", "BACKEND")}

    def set_state(self, server: str, state: str) -> None:
        """``ready``, ``drain`` (no new requests; in-flight ones finish) or ``maint``."""
        self.command(f"set server {BACKEND}/{server} state {state}")

    @property
    def pid(self) -> int:
        """Process id (and process group) of the running program."""
        return self._process.pid

    def stop(self) -> None:
        """Stop HAProxy."""
        self._process.stop()
