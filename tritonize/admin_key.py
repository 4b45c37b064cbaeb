"""The admin API key: which Triton API groups need it, the header that carries it, where it comes from.

The server side (``server.flags``: local server, Docker image, Helm chart, KServe runtime) restricts the groups
with Triton's ``--http-restricted-api`` / ``--grpc-restricted-protocol``; the client sends the header when given
the key. docs/security.md says what is exposed and how to rotate the key.
"""

from __future__ import annotations

#: Triton API groups (2.51 names, unchanged through r26.08) that need the key: loading/unloading models and the
#: repository index, shared-memory registration (the Python-backend CVE chain), trace and log settings. Health,
#: metadata, inference, model config and statistics stay open: load balancers and Kubernetes probes, the client's
#: predict path and perf_analyzer need them; Prometheus scrapes the metrics port, which has no groups.
RESTRICTED_APIS: tuple[str, ...] = ("model-repository", "shared-memory", "trace", "logging")

#: The HTTP header carrying the key.
API_KEY_HEADER = "tritonize-admin-key"

#: The same header over gRPC (Triton prefixes restricted-protocol headers).
GRPC_API_KEY_HEADER = f"triton-grpc-protocol-{API_KEY_HEADER}"

#: Environment variable holding the key (server, container and client).
API_KEY_ENV = "TRITONIZE_API_KEY"


def key_headers(key: str | None, protocol: str) -> dict[str, str]:
    """The request headers that carry ``key`` over ``protocol`` (``http`` or ``grpc``); none without a key."""
    if not key:
        return {}
    return {GRPC_API_KEY_HEADER if protocol == "grpc" else API_KEY_HEADER: key}
