"""Ports for the local server: check that asked ones are free, pick free ones."""

from __future__ import annotations

import contextlib
import errno
import socket

from server.errors import PortInUseError, UsageError


def check_free(port: int, protocol: str) -> None:
    """Raise :class:`PortInUseError` when ``port`` cannot be bound on all interfaces, as Triton binds it.

    ``SO_REUSEADDR`` lets the probe pass ports that only linger in TIME_WAIT (Triton binds those too) but
    not ports another program listens on.
    """
    if not 0 < port < 65536:
        raise UsageError(f"Invalid {protocol} port {port}: use 1–65535.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(port, protocol) from None
            if error.errno == errno.EACCES:
                raise UsageError(f"Port {port} ({protocol}) needs privileges: choose one above 1023.") from None
            raise


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free now (the kernel's choice)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("0.0.0.0", 0))
            ports.append(sock.getsockname()[1])
        return ports
