"""Plain HTTP to servers this project starts or probes (Triton, HAProxy, Prometheus), never through a proxy.

Standard library only, Python 3.10: the Docker image's health check (``server/health.py``) imports it on the
Triton image's own Python, where it is copied beside the script.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

#: Opens URLs directly: a local or cluster-internal server is never reached through ``http_proxy``.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Answer:
    """What one request got back.

    Attributes:
        status: HTTP status, also for error statuses; 0 when nothing answered.
        body: The response body (an error status's body too).
        error: Why nothing answered (refused, timed out, unreachable); empty when something did.
    """

    status: int
    body: bytes
    error: str = ""


def request(url: str, body: bytes | None = None, *, method: str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 2.0) -> Answer:
    """Send one request to ``url`` directly; an HTTP error status or no answer is an :class:`Answer`, not raised.

    Args:
        url: Full URL with scheme.
        body: Request body; ``None`` sends none.
        method: HTTP method; default GET without a body, POST with one.
        headers: Extra request headers.
        timeout: Seconds to wait for the connection and the answer.
    """
    prepared = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with DIRECT.open(prepared, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
    except OSError as error:
        return Answer(0, b"", str(error))
