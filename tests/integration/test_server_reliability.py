"""Reliability of the real local Triton: dead stubs heal, overload is refused at once, caller mistakes are 4xx."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from client.connection import Connection, Endpoint
from client.errors import PerfAnalyzerError
from client.perf_analyzer import LoadLevel, PerfSettings, sweep, tensor_input_data
from export.settings import QueuePolicy
from export.triton_config import queue_policy
from server import health
from server.health import Stub, stubs
from server.local import LocalTriton
from tests.support.server import build_repository, write_model
from tritonize.processes import process_state

#: Seconds within which a model whose stub died must serve again.
HEAL_WINDOW_S = 10.0

#: Seconds a light client retrying refused requests gets to collect its answers from the overloaded slow model
#: (a slot frees every 0.2 s; seven clients race for it, more slowly on a busy machine).
LIGHT_CLIENT_BUDGET_S = 30.0

#: A Python model that takes 0.2 s per batch of one: easy to overload.
SLOW_MODEL = '''
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(0.2 * len(requests))
        return [pb_utils.InferenceResponse([pb_utils.Tensor("Y", np.ones((1, 1), dtype=np.float32))])
                for _ in requests]
'''


def slow_config() -> mc.ModelConfig:
    """One instance, batches of one, at most two requests waiting."""
    return mc.ModelConfig(
        name="slow", backend="python", max_batch_size=1,
        input=[mc.ModelInput(name="X", data_type=mc.TYPE_FP32, dims=[1])],
        output=[mc.ModelOutput(name="Y", data_type=mc.TYPE_FP32, dims=[1])],
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        dynamic_batching=mc.ModelDynamicBatching(default_queue_policy=queue_policy(QueuePolicy(2, 5000))),
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reliability")
    build_repository(root / "repo", root / "work")
    write_model(root / "repo", slow_config(), {"model.py": SLOW_MODEL.encode()})
    return root / "repo"


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalTriton]:
    with LocalTriton(repository, ready_timeout=120) as running:
        yield running


def text_request(url: str) -> Callable[[], None]:
    """One request through the ``tiny`` ensemble with a fresh HTTP client of its own thread."""
    client = httpclient.InferenceServerClient(url)

    def send() -> None:
        text = httpclient.InferInput("TEXT", [1, 1], "BYTES")
        text.set_data_from_numpy(np.array([[b"hello"]], dtype=object))
        client.infer("tiny", [text])

    return send


def retrying_request(url: str) -> Callable[[], None]:
    """The same through the client library's connection, which retries what a retry can fix."""
    connection = Connection(Endpoint.parse(url, retries=4))

    def send() -> None:
        connection.infer("tiny", [("TEXT", "BYTES", np.array([[b"hello"]], dtype=object))], [])

    return send


class Load:
    """Closed-loop load from several threads until stopped (at most 30 s); counts answers and failures per thread."""

    def __init__(self, makers: list[Callable[[], Callable[[], None]]], think_time: float = 0.0) -> None:
        self.done: dict[int, int] = {}
        self.failed: dict[int, list[str]] = {}
        self._pause = think_time
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i, m)) for i, m in enumerate(makers)]

    def _run(self, index: int, maker: Callable[[], Callable[[], None]]) -> None:
        send = maker()
        self.done[index], self.failed[index] = 0, []
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                send()
                self.done[index] += 1
            except Exception as error:  # noqa: BLE001 - every failure is counted
                self.failed[index].append(str(error))
            time.sleep(self._pause)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def live_stubs(server: LocalTriton, model: str) -> list[Stub]:
    assert server.pid is not None
    return [stub for stub in stubs(server.pid)[0] if stub.model == model]


def describe_victim(server: LocalTriton, victim: Stub) -> str:
    """What the watchdog and /proc say after a kill, for a failure message."""
    assert server.pid is not None
    live, zombies = stubs(server.pid)
    state = process_state(victim.pid) or "gone"
    return (f"victim {victim} is {state}; zombies {zombies}; live {[(s.pid, s.instance) for s in live]}; "
            f"heals {server.heals}")


def kill_and_wait_for_new_stub(server: LocalTriton, model: str) -> None:
    """SIGKILL one stub of ``model``; return once another stub serves it and requests succeed again."""
    victim = live_stubs(server, model)[0]
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + HEAL_WINDOW_S
    send = text_request(server.http_url)
    while True:
        fresh = [s for s in live_stubs(server, model) if s.pid != victim.pid and s.instance == victim.instance]
        if fresh:
            try:
                send()
                return
            except InferenceServerException:
                pass
        assert time.monotonic() < deadline, (
            f"{model} did not serve again within {HEAL_WINDOW_S:g} s; {describe_victim(server, victim)}")
        time.sleep(0.1)


@pytest.mark.parametrize("model", ["tiny_tokenizer", "tiny_onnx"])
def test_a_killed_stub_under_load_is_reloaded_and_retrying_clients_see_no_failure(
        server: LocalTriton, model: str) -> None:
    with Load([lambda: text_request(server.http_url)] * 2 + [lambda: retrying_request(server.http_url)] * 2) as load:
        time.sleep(0.5)
        kill_and_wait_for_new_stub(server, model)
        time.sleep(0.5)
    plain = load.failed[0] + load.failed[1]
    assert all("is not healthy" in message for message in plain)
    # Only requests sent to the dead instance before the reload fail, each after Triton's 1 s timeout.
    assert len(load.failed[0]) <= 3 and len(load.failed[1]) <= 3
    assert load.failed[2] == load.failed[3] == [] and load.done[2] > 0 and load.done[3] > 0
    assert [heal.model for heal in server.heals][-1] == model and not server.heals[-1].error
    assert server.is_ready()
    for _ in range(20):
        text_request(server.http_url)()


def test_poll_mode_heals_a_killed_adapter_stub(repository: Path) -> None:
    with LocalTriton(repository, model_control_mode="poll", repository_poll_secs=1, ready_timeout=120) as server:
        kill_and_wait_for_new_stub(server, "tiny_onnx")
        assert [heal.model for heal in server.heals] == ["tiny_onnx"]
        assert server.is_ready()


def test_an_overloaded_model_refuses_at_once_while_a_light_client_gets_answers(server: LocalTriton) -> None:
    def hammer() -> Callable[[], None]:
        client = httpclient.InferenceServerClient(server.http_url)
        value = httpclient.InferInput("X", [1, 1], "FP32")
        value.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
        return lambda: client.infer("slow", [value])

    with Load([hammer] * 6, think_time=0.05) as load:  # twice what one instance and its queue hold
        time.sleep(0.5)
        with pytest.raises(InferenceServerException) as refused:
            value = grpcclient.InferInput("X", [1, 1], "FP32")
            value.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
            with grpcclient.InferenceServerClient(server.grpc_url) as grpc:
                for _ in range(20):
                    grpc.infer("slow", [value])
        light, answers, light_refusals = hammer(), 0, []
        deadline = time.monotonic() + LIGHT_CLIENT_BUDGET_S
        while time.monotonic() < deadline:  # one request at a time: a retry a few ms after each refusal gets in
            try:
                light()
                answers += 1
                if answers == 3:
                    break
            except InferenceServerException as error:
                light_refusals.append(error.status())
            time.sleep(0.01)
    assert answers == 3 and set(light_refusals) <= {"503"}
    refusals = [message for failures in load.failed.values() for message in failures]
    assert refusals and all("Exceeds maximum queue size" in message for message in refusals)
    assert sum(load.done.values()) > 0
    assert refused.value.status() == "StatusCode.UNAVAILABLE"


def test_a_sweep_records_a_level_perf_analyzer_fails_on_and_goes_on(server: LocalTriton, tmp_path: Path) -> None:
    settings = PerfSettings(url=server.http_url, measurement_interval_ms=1000,
                            stability_percentage=900, max_trials=4)
    data = tensor_input_data([{"X": np.ones((1, 1), dtype=np.float32)}])
    levels = [LoadLevel(concurrency=1), LoadLevel(concurrency=8), LoadLevel(concurrency=2)]
    failures: list[tuple[LoadLevel, PerfAnalyzerError]] = []
    rows = sweep("slow", levels, settings, data, tmp_path, on_failure=lambda *failure: failures.append(failure))
    assert [row["Concurrency"] for row in rows] == [1.0, 2.0]  # c8 overflows one instance and two queue slots
    assert [level for level, _ in failures] == [levels[1]]
    assert "at c8" in str(failures[0][1]) and "queue" in str(failures[0][1]).lower()
    with pytest.raises(PerfAnalyzerError, match="at c8"):
        sweep("slow", levels[1:2], settings, data, tmp_path)


@pytest.fixture(scope="module")
def exported(tiny_repository: Path) -> Iterator[LocalTriton]:
    with LocalTriton(tiny_repository, ready_timeout=120) as running:
        yield running


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "in ensemble 'tiny_cls', TEXT item 0 is empty"),
    (b"  ", "in ensemble 'tiny_cls', TEXT item 0 is empty"),
    (b"ok \xff", "in ensemble 'tiny_cls', TEXT item 0 is not valid UTF-8 (byte 3)"),
])
def test_texts_the_tokenizer_refuses_are_invalid_arguments(exported: LocalTriton, raw: bytes, message: str) -> None:
    for module, url, status in ((httpclient, exported.http_url, "400"),
                                (grpcclient, exported.grpc_url, "StatusCode.INVALID_ARGUMENT")):
        text = module.InferInput("TEXT", [1, 1], "BYTES")
        text.set_data_from_numpy(np.array([[raw]], dtype=object))
        with module.InferenceServerClient(url) as client, pytest.raises(InferenceServerException) as refused:
            client.infer("tiny_cls", [text])
        assert (refused.value.status(), refused.value.message()) == (status, message)
    assert exported.is_ready()


def test_the_health_check_turns_unhealthy_when_a_stub_dies_and_nothing_heals(repository: Path) -> None:
    with LocalTriton(repository, heal=False, ready_timeout=120) as server:
        url = f"http://{server.http_url}"
        assert health.check(url, [server.pid], with_canary=True) == []
        victim = live_stubs(server, "tiny_tokenizer")[0]
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + HEAL_WINDOW_S
        while not health.check(url, [server.pid]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert server.is_ready(), "Triton itself still says ready"
        problems = health.check(url, [server.pid], with_canary=True)
        assert problems[0] == (f"1 Python-backend stub process(es) of tritonserver {server.pid} died (pids "
                               f"{victim.pid}): requests to their model instances fail")
        assert [p.split(":")[0] for p in problems[1:]] == ["tiny", "tiny_ts"]
        assert "Stub process 'tiny_tokenizer_0_0' is not healthy" in problems[1]
        assert health.main(["--url", url, "--pid", str(server.pid)]) == 1


def test_a_stub_command_line_names_its_model_and_instance() -> None:
    cmdline = (b"/w/backends/python/triton_python_backend_stub\0/w/repository/tiny_onnx/1/model.py\0prefix_0\0"
               b"1048576\0" b"1048576\0" b"6362\0/w/backends/python\0" b"336\0tiny_onnx_0_1\0DEFAULT\0")
    assert health.parse_stub(7, cmdline) == Stub(7, "tiny_onnx", "tiny_onnx_0_1")
    assert health.parse_stub(7, b"") is None


def test_the_reliability_suite_command_line() -> None:
    """The suite's command line parses (run as a program: nothing in tests imports benchmarks/)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "benchmarks.reliability", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "--max-queue-size" in result.stdout, result.stderr
