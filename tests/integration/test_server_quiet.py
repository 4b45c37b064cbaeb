"""``python -m server -q`` prints nothing at all, and serves."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from server.ports import free_ports
from tests.support import ROOT
from tests.support.server import build_repository


def test_quiet_server_prints_nothing_but_serves(tmp_path: Path) -> None:
    build_repository(tmp_path / "full", tmp_path / "work")
    shutil.copytree(tmp_path / "full" / "tiny_tokenizer", tmp_path / "repo" / "tiny_tokenizer")
    http, grpc, metrics = free_ports(3)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "-q", "--repository", str(tmp_path / "repo"), "--http-port", str(http),
         "--grpc-port", str(grpc), "--metrics-port", str(metrics)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=1) as answer:
                    ready = answer.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, stdout, stderr) == (0, "", "")
