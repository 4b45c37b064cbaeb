"""Heal models whose Python-backend stub process died (the OOM killer, a crash, ``kill -9``).

Triton 2.51's Python backend never restarts a dead ``triton_python_backend_stub``: the model stays READY
and every request the dead instance takes fails with ``Stub process '<instance>' is not healthy``.
Nothing reaps the stub either: it stays a zombie child of ``tritonserver`` (:mod:`server.health` finds
those). :class:`Watchdog` looks for them a few times a second and has the model reloaded (the repository
API in ``explicit`` mode; a touched shadow folder in ``poll`` mode), which starts fresh stubs for every
instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.health import PROC, Stub, stubs

logger = logging.getLogger(__name__)

#: How often the watchdog looks at the stubs.
CHECK_INTERVAL_S = 0.25
#: How long a stub must stay a zombie to count as dead: one that Triton stops (a model unloaded, a version
#: replaced) is a zombie for a moment too, until Triton reaps it.
ZOMBIE_GRACE_S = 0.5


@dataclass(frozen=True)
class Heal:
    """One dead stub and what the watchdog did about it.

    Attributes:
        model: The model whose stub died.
        instance: The dead stub's instance.
        detected_s: Seconds after the watchdog started when it saw the dead stub.
        reloaded_s: Seconds after the watchdog started when the reload returned.
        error: Why the reload failed; empty when it succeeded.
    """

    model: str
    instance: str
    detected_s: float
    reloaded_s: float
    error: str = ""


class Watchdog:
    """A thread that reloads every model one of whose stubs died, until :meth:`stop`.

    Attributes:
        heals: Every dead stub seen so far, in order.
    """

    def __init__(self, server_pid: int, reload: Callable[[str], str], interval: float = CHECK_INTERVAL_S,
                 proc: Path = PROC) -> None:
        """Watch the stubs of ``server_pid``.

        Args:
            server_pid: The ``tritonserver`` process.
            reload: Reloads one model by name; returns an error message, empty on success.
            interval: Seconds between checks.
            proc: Where the processes are listed.
        """
        self.heals: list[Heal] = []
        self._pid = server_pid
        self._proc = proc
        self._reload = reload
        self._interval = interval
        self._known: dict[int, Stub] = {}
        self._handled: set[int] = set()
        self._zombie_since: dict[int, float] = {}
        self._stop = threading.Event()
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="tritonize-watchdog", daemon=True)

    def start(self) -> Watchdog:
        """Start watching in a daemon thread."""
        self.check()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching; idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def check(self) -> list[Heal]:
        """Look once: remember live stubs, reload the models of dead ones; return what was healed now."""
        live, zombies = stubs(self._pid, self._proc)
        now = time.monotonic()
        for stub in live:
            self._known[stub.pid] = stub
        present = {stub.pid for stub in live} | set(zombies)
        self._known = {pid: stub for pid, stub in self._known.items() if pid in present}  # reaped: forgotten
        self._zombie_since = {pid: self._zombie_since.get(pid, now) for pid in zombies}
        dead = [self._known[pid] for pid in zombies if pid in self._known and pid not in self._handled
                and now - self._zombie_since[pid] >= ZOMBIE_GRACE_S]
        healed = []
        for model in dict.fromkeys(stub.model for stub in dead):
            detected = time.monotonic() - self._began
            instances = ", ".join(s.instance for s in dead if s.model == model)
            logger.warning("the stub process of %s (%s) died: reloading the model", model, instances)
            error = self._reload(model)
            heal = Heal(model, instances, detected, time.monotonic() - self._began, error)
            if error:
                logger.warning("reloading %s failed: %s", model, error)
            else:
                logger.info("%s reloaded in %.1f s", model, heal.reloaded_s - heal.detected_s)
            healed.append(heal)
        for stub in dead:
            self._handled.add(stub.pid)
            self._known.pop(stub.pid, None)
        self.heals.extend(healed)
        return healed

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watchdog must outlive one bad round
                logger.exception("watchdog round failed")
