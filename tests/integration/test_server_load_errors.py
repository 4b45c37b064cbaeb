"""``python -m server`` on a repository where a model cannot load: one line naming each model and Triton's reason.

The local server stays fail-fast, like the container (``--exit-on-error``, which the Helm rollout relies on):
what runs locally is what deploys.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server import triton_log
from server.ports import free_ports
from tests.support.server import BYTE_TOKENIZER, tokenizer_config, write_model

ROOT = Path(__file__).resolve().parents[2]
REFUSED = ("model output 'input_ids' dimension must be integer >= 1, or -1 to indicate a variable-size dimension "
           "for {name}")
#: What Triton 2.51 logs for a config it refuses before loading any version.
LOG_LINE = ('E1205 11:09:12.342560 11250 model_repository_manager.cc:1460] "Poll failed for model directory '
            "'dl': model output 'logits' dimension must be integer >= 1, or -1 to indicate a variable-size "
            'dimension for dl"')


def test_a_config_triton_refuses_is_a_load_failure() -> None:
    (failure,) = triton_log.load_failures(LOG_LINE + "\n")
    assert (failure.model, failure.version) == ("dl", 0)
    assert failure.line == ("Poll failed for model directory 'dl': model output 'logits' dimension must be integer "
                            ">= 1, or -1 to indicate a variable-size dimension for dl")


@pytest.mark.server
def test_server_names_every_model_it_cannot_load_and_why_in_one_line(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    write_model(repository, tokenizer_config("good"), {"model.py": BYTE_TOKENIZER.encode()})
    for name in ("bad_a", "bad_b"):
        config = tokenizer_config(name)
        config.output[0].dims[:] = [0]  # what exports wrote for a classifier without id2label
        write_model(repository, config, {"model.py": BYTE_TOKENIZER.encode()})
    ports = [str(port) for port in free_ports(3)]
    result = subprocess.run([sys.executable, "-m", "server", "--repository", str(repository), "--http-port", ports[0],
                             "--grpc-port", ports[1], "--metrics-port", ports[2]],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error == [f"Error: Triton could not load 2 models: Poll failed for model directory 'bad_a': "
                     f"{REFUSED.format(name='bad_a')}; Poll failed for model directory 'bad_b': "
                     f"{REFUSED.format(name='bad_b')}"]
    assert "Traceback" not in result.stderr
