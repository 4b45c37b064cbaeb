"""``python -m server --gateway-port``: the OpenAI-compatible gateway as a child of the local server.

It talks to the local Triton over gRPC and counts tokens with the served repository's tokenizer files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.process import GatewayProcess

if TYPE_CHECKING:
    from server.local import LocalTriton


def start_gateway(server: LocalTriton, port: int) -> GatewayProcess:
    """Start the gateway on ``port`` (loopback) in front of the running ``server``.

    Raises:
        GatewayStartError: It exited at start-up (the ``gateway`` extra missing, the port taken) or did not answer.
    """
    return GatewayProcess(server.grpc_url, port, repository=server.repository).start()
