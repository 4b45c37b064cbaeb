"""Read Triton's own log: which models failed to load and why, which port was taken."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

#: ``E1126 18:12:41.566074 6540 model_lifecycle.cc:642] "failed to load 'bad' version 1: Internal: ..."``
_MESSAGE = re.compile(r'^[EWI]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] "(?P<message>.*)"\s*$')
_FAILED_LOAD = re.compile(r"^failed to load '(?P<model>[^']+)' version (?P<version>\d+): ")
#: ``E1205 11:09:12.342560 11250 model_repository_manager.cc:1460] "Poll failed for model directory 'dl': model
#: output 'logits' dimension must be integer >= 1 ..."``: a config Triton refuses before any version loads.
_REFUSED_CONFIG = re.compile(r"^Poll failed for model directory '(?P<model>[^']+)': ")
_BUSY_PORT = re.compile(
    r"^failed to start (?P<service>HTTP|GRPC|Metrics) service: .*'[^']*:(?P<port>\d+)' already in use"
)

_PROTOCOLS = {"HTTP": "http", "GRPC": "grpc", "Metrics": "metrics"}


@dataclass(frozen=True)
class LoadFailure:
    """One model Triton could not load.

    Attributes:
        model: The model's name.
        version: The version that failed.
        line: Triton's error line (its first line: the traceback of a Python model follows in ``detail``).
        detail: The whole message, unescaped.
    """

    model: str
    version: int
    line: str
    detail: str


def messages(log: str) -> list[str]:
    """The quoted messages of Triton's log lines, unescaped (other lines are skipped)."""
    found = []
    for raw in log.splitlines():
        match = _MESSAGE.match(raw)
        if match:
            found.append(_unescape(match["message"]))
    return found


def load_failures(log: str) -> list[LoadFailure]:
    """Every ``failed to load 'NAME' version N: ...`` error, once per model and version, in log order.

    A config Triton refuses (``Poll failed for model directory 'NAME': ...``) counts as version 0: no version
    of that model was tried.
    """
    failures: dict[tuple[str, int], LoadFailure] = {}
    for message in messages(log):
        match = _FAILED_LOAD.match(message) or _REFUSED_CONFIG.match(message)
        if match:
            key = (match["model"], int(match.groupdict().get("version") or 0))
            failures.setdefault(key, LoadFailure(key[0], key[1], message.splitlines()[0].rstrip(), message.rstrip()))
    return list(failures.values())


def with_user_paths(failure: LoadFailure, shadow_root: str, repository: str) -> LoadFailure:
    """``failure`` with paths into the shadow repository (what Triton loaded) shown as the user's own paths."""
    return replace(failure, line=failure.line.replace(shadow_root, repository),
                   detail=failure.detail.replace(shadow_root, repository))


def busy_port(log: str) -> tuple[str, int] | None:
    """``(protocol, port)`` of the first service that could not bind its port, if any."""
    for message in messages(log):
        match = _BUSY_PORT.match(message)
        if match:
            return _PROTOCOLS[match["service"]], int(match["port"])
    return None


def tail(log: str, lines: int = 15) -> str:
    """The last ``lines`` lines of the log, without Triton's ASCII tables."""
    kept = [line for line in log.splitlines() if line.strip() and not line.startswith(("+", "|"))]
    return "\n".join(kept[-lines:])


def _unescape(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text.replace("\\n", "\n").replace('\\"', '"')
