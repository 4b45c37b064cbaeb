"""``python -m gateway.healthcheck``: exit 0 when the gateway on this host answers ``/health`` with 200.

The container's HEALTHCHECK (standard library only); the port comes from ``TRITONIZE_GATEWAY_PORT``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORT = "8080"


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    """Check ``http://127.0.0.1:$TRITONIZE_GATEWAY_PORT/health``; 0 healthy, 1 not."""
    port = os.environ.get("TRITONIZE_GATEWAY_PORT", DEFAULT_PORT)
    return 0 if healthy(f"http://127.0.0.1:{port}/health") else 1


if __name__ == "__main__":
    sys.exit(main())
