"""Dead Python-backend stubs are found in /proc and their models reloaded, however the look lands on the death."""

from __future__ import annotations

import time
from pathlib import Path

from server.health import STUB_COMM, Stub, stubs
from server.watchdog import ZOMBIE_GRACE_S, Watchdog

SERVER = 100


def process(proc: Path, pid: int, name: str, state: str, parent: int, cmdline: bytes) -> None:
    """Write ``/proc/<pid>/stat`` and ``cmdline`` as the kernel shows them."""
    entry = proc / str(pid)
    entry.mkdir(exist_ok=True)
    (entry / "stat").write_text(f"{pid} ({name}) {state} {parent} 1 1 0 -1\n")
    (entry / "cmdline").write_bytes(cmdline)


def stub_cmdline(model: str, instance: str) -> bytes:
    return b"\0".join([b"/opt/stub", f"/repo/{model}/1/model.py".encode(), b"shm", b"1", instance.encode(), b"x"])


def test_live_zombie_and_exiting_stubs_are_told_apart(tmp_path: Path) -> None:
    process(tmp_path, SERVER, "tritonserver", "S", 1, b"tritonserver\0")
    process(tmp_path, 101, STUB_COMM, "S", SERVER, stub_cmdline("minilm", "minilm_0_0"))
    process(tmp_path, 102, STUB_COMM, "Z", SERVER, b"")
    process(tmp_path, 103, STUB_COMM, "R", SERVER, b"")  # killed, exiting: no command line, not a zombie yet
    process(tmp_path, 104, STUB_COMM, "S", 999, stub_cmdline("other", "other_0_0"))  # another server's
    live, dead = stubs(SERVER, tmp_path)
    assert live == [Stub(101, "minilm", "minilm_0_0")]
    assert sorted(dead) == [102, 103]


def test_a_stub_seen_while_exiting_is_still_healed(tmp_path: Path) -> None:
    process(tmp_path, SERVER, "tritonserver", "S", 1, b"tritonserver\0")
    process(tmp_path, 101, STUB_COMM, "S", SERVER, stub_cmdline("minilm", "minilm_0_0"))
    reloaded: list[str] = []
    watchdog = Watchdog(SERVER, lambda model: reloaded.append(model) or "", proc=tmp_path)
    watchdog.check()
    process(tmp_path, 101, STUB_COMM, "R", SERVER, b"")  # the look lands between the kill and the zombie
    watchdog.check()
    process(tmp_path, 101, STUB_COMM, "Z", SERVER, b"")
    time.sleep(ZOMBIE_GRACE_S)
    healed = watchdog.check()
    assert reloaded == ["minilm"] and [heal.instance for heal in healed] == ["minilm_0_0"]
    assert watchdog.check() == [] and reloaded == ["minilm"]  # once per death
