"""The ``client`` command line against the real local Triton serving the tiny repository, over HTTP and gRPC."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from client import TextClient
from client.cli import cli
from client.connection import RequestedOutput
from client.errors import ServerRejected
from server.local import LocalTriton
from tests.support.client_cli import run

TINY_MODELS = [
    "tiny_cls", "tiny_cls_onnx", "tiny_cls_tokenizer", "tiny_cls_torchscript", "tiny_emb", "tiny_emb_onnx",
    "tiny_emb_tokenizer", "tiny_emb_torchscript", "tiny_tok", "tiny_tok_entities", "tiny_tok_onnx",
    "tiny_tok_tokenizer",
]
LABELS = {"negative", "neutral", "positive"}
TEXTS = [f"text number {i} " + "word " * (i % 7) for i in range(50)]


@pytest.fixture(scope="module")
def triton(tiny_repository: Path):
    with LocalTriton(tiny_repository) as server:
        yield server


@pytest.fixture
def url(triton: LocalTriton, protocol: str) -> str:
    """The server's URL with scheme, as the client shows it."""
    return f"{protocol}://{triton.http_url if protocol == 'http' else triton.grpc_url}"


@pytest.fixture
def closed_url() -> str:
    """A localhost port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def records(result: Result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- health ----------------------------------------------------------------------------------------------------


def test_health_of_a_ready_server(url: str) -> None:
    result = run(url, "health")
    assert (result.exit_code, result.stdout) == (0, f"{url}: live, ready\n")
    result = run(url, "health", "--model", "tiny_cls")
    assert (result.exit_code, result.stdout) == (0, f"{url}: live, ready; model tiny_cls: READY\n")


def test_health_json_for_machines(url: str) -> None:
    result = run(url, "health", "--model", "tiny_emb", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "url": url, "live": True, "ready": True, "model": "tiny_emb",
                                         "model_ready": True, "model_state": "READY", "error": ""}


def test_health_of_an_unknown_model_exits_1(url: str) -> None:
    result = run(url, "health", "--model", "nope", "--wait", "0.3")
    assert (result.exit_code, result.stdout) == (1, f"{url}: live, ready; model nope: not found (waited 0.3 s)\n")


def test_health_of_an_unreachable_server(closed_url: str) -> None:
    result = run(closed_url, "--retries", "0", "health")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: Cannot reach Triton at {closed_url}: connection refused\n"
    result = run(closed_url, "--retries", "0", "health", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == f"Cannot reach Triton at {closed_url}: connection refused"
    grpc_url = closed_url.replace("http://", "grpc://")
    result = run(grpc_url, "--retries", "0", "health")
    assert (result.exit_code, result.stderr) == (1, f"Error: Cannot reach Triton at {grpc_url}: connection refused\n")


def test_health_wait_polls_until_the_deadline(closed_url: str) -> None:
    started = time.monotonic()
    result = run(closed_url, "--retries", "0", "health", "--wait", "1")
    assert time.monotonic() - started >= 0.9
    assert result.exit_code == 1
    assert result.stderr == f"Error: Cannot reach Triton at {closed_url}: connection refused (waited 1 s)\n"


def test_health_wait_returns_as_soon_as_ready(url: str) -> None:
    started = time.monotonic()
    assert run(url, "health", "--wait", "30").exit_code == 0
    assert time.monotonic() - started < 5


# -- models, metadata, config ------------------------------------------------------------------------------------


def test_models_lists_the_repository_index(url: str) -> None:
    result = run(url, "models")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "VERSION", "STATE", "REASON"]
    assert [line.split() for line in lines[1:]] == [[name, "1", "READY"] for name in TINY_MODELS]
    entries = json.loads(run(url, "models", "--json").stdout)
    assert entries[0] == {"name": "tiny_cls", "version": "1", "state": "READY", "reason": ""}
    assert [entry["name"] for entry in entries] == TINY_MODELS


def test_metadata_readable_and_json(url: str) -> None:
    result = run(url, "metadata", "tiny_cls")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "tiny_cls  platform: ensemble  versions: 1",
        "inputs:",
        "  TEXT  BYTES  [-1, 1]",
        "outputs:",
        "  logits         FP32  [-1, 3]",
        "  probabilities  FP32  [-1, 3]",
    ]
    answer = json.loads(run(url, "metadata", "tiny_emb", "--json").stdout)
    assert answer["inputs"] == [{"name": "TEXT", "datatype": "BYTES", "shape": [-1, 1]}]
    assert answer["outputs"] == [{"name": "embeddings", "datatype": "FP32", "shape": [-1, 32]}]


def test_config_readable(url: str) -> None:
    result = run(url, "config", "tiny_cls")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == ["tiny_cls  platform: ensemble", "max batch size: 16"]
    assert "  probabilities  FP32  [3]  labels: labels.txt" in lines
    assert lines[-3:] == [
        "ensemble steps:",
        "  tiny_cls_tokenizer: TEXT ⇒ attention_mask, input_ids, token_type_ids",
        "  tiny_cls_onnx: attention_mask, input_ids, token_type_ids ⇒ logits, probabilities",
    ]
    lines = run(url, "config", "tiny_cls_tokenizer").stdout.splitlines()
    assert "dynamic batching: max queue delay 100 µs, preferred batch sizes 16" in lines
    assert "instance groups: 1 × CPU" in lines
    assert lines[-6:] == ["parameters:", "  max_length = 64", "  pad_to_multiple_of = 8", "  pad_token_id = 0",
                          "  padding_side = right", "  truncation_side = right"]


def test_config_json_is_the_server_answer(url: str, protocol: str) -> None:
    config = json.loads(run(url, "config", "tiny_cls", "--json").stdout)
    assert (config["name"], config["platform"], config["max_batch_size"]) == ("tiny_cls", "ensemble", 16)
    # Each protocol's own JSON: gRPC renders int64 fields as strings (protobuf's JSON mapping).
    assert config["input"][0]["dims"] == ([1] if protocol == "http" else ["1"])
    assert [step["model_name"] for step in config["ensemble_scheduling"]["step"]] == ["tiny_cls_tokenizer",
                                                                                     "tiny_cls_onnx"]


@pytest.mark.parametrize("command", ["metadata", "config"])
def test_unknown_model_lists_the_available_ones(url: str, command: str) -> None:
    result = run(url, command, "nope")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: Model 'nope' not found on Triton at {url}; available: {', '.join(TINY_MODELS)}\n"


# -- predict: formats ----------------------------------------------------------------------------------------


def test_predict_table_shows_the_top_label(url: str) -> None:
    result = run(url, "predict", "--model", "tiny_cls", "I like it", "Not at all")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["#", "TEXT", "RESULT"]
    assert [row.split()[0] for row in rows] == ["1", "2"]
    for row, text in zip(rows, ["I like it", "Not at all"]):
        assert text in row
        label, score = row.split()[-2:]
        assert label in LABELS and 0 < float(score) < 1
    top2 = run(url, "predict", "-m", "tiny_cls", "--top-k", "2", "I like it").stdout.splitlines()[1]
    assert top2.count(",") == 1


def test_predict_table_of_embeddings_and_tokens(url: str) -> None:
    row = run(url, "predict", "-m", "tiny_emb", "hello").stdout.splitlines()[1]
    assert "embeddings: 32 dims [" in row and row.endswith(", …]")
    row = run(url, "predict", "-m", "tiny_tok", "hello world").stdout.splitlines()[1]
    assert row.endswith("(2 tokens)")  # real tokens only: no [CLS], [SEP] or padding


def test_jsonl_labels_come_from_the_classification_extension(url: str) -> None:
    (record,) = records(run(url, "predict", "-m", "tiny_cls", "--jsonl", "great movie"))
    assert (record["index"], record["text"]) == (0, "great movie")
    labels = record["labels"]
    assert {label["label"] for label in labels} == LABELS  # all classes by default, best first
    assert [label["score"] for label in labels] == sorted((label["score"] for label in labels), reverse=True)
    logits = np.array(record["outputs"]["logits"])
    softmax = np.exp(logits) / np.exp(logits).sum()
    for label in labels:
        assert label["score"] == pytest.approx(softmax[label["index"]], abs=1e-5)
    (top1,) = records(run(url, "predict", "-m", "tiny_cls", "--jsonl", "--top-k", "1", "great movie"))
    assert top1["labels"] == labels[:1]


def test_jsonl_per_token_labels(url: str) -> None:
    (record,) = records(run(url, "predict", "-m", "tiny_tok", "--jsonl", "--top-k", "2", "hello world"))
    assert len(record["token_labels"]) == 2 and record["token_offsets"] == [[0, 5], [6, 11]]
    assert all(len(token) == 2 for token in record["token_labels"])
    names = {label["label"] for token in record["token_labels"] for label in token}
    assert names <= {"O", "B-ORG", "I-ORG", "B-PER"}
    assert np.array(record["outputs"]["logits"]).shape == (2, 4)


def test_json_array_has_full_vectors(url: str) -> None:
    result = run(url, "predict", "-m", "tiny_emb", "--json", "a", "b")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert [(r["index"], r["text"], len(r["outputs"]["embeddings"])) for r in document] == [(0, "a", 32),
                                                                                          (1, "b", 32)]


# -- predict: batching and order ---------------------------------------------------------------------------


def test_results_keep_input_order_with_concurrency(url: str) -> None:
    serial = records(run(url, "predict", "-m", "tiny_emb", "--jsonl", "-b", "1", "-c", "1", *TEXTS))
    parallel = records(run(url, "predict", "-m", "tiny_emb", "--jsonl", "-b", "3", "-c", "4", *TEXTS))
    unsorted = records(run(url, "predict", "-m", "tiny_emb", "--jsonl", "-b", "3", "-c", "4", "--no-sort", *TEXTS))
    for run_records in (parallel, unsorted):
        assert [(r["index"], r["text"]) for r in run_records] == list(enumerate(TEXTS))
        for one, other in zip(serial, run_records):
            np.testing.assert_allclose(one["outputs"]["embeddings"], other["outputs"]["embeddings"], atol=1e-5)


def test_batch_size_is_capped_at_the_model_maximum(url: str) -> None:
    result = run(url, "--verbose", "predict", "-m", "tiny_cls", "-b", "100", "-c", "1", *TEXTS)
    assert result.exit_code == 0
    assert f"50 texts → tiny_cls at {url}, batches of 16, 1 in flight" in result.stderr
    assert "texts/s)" in result.stderr


# -- predict: inputs -----------------------------------------------------------------------------------------


def test_texts_from_stdin(url: str) -> None:
    for args in (["-"], ["--file", "-"]):
        result = run(url, "predict", "-m", "tiny_cls", "--jsonl", *args, stdin="first\n\nsecond\n")
        assert [r["text"] for r in records(result)] == ["first", "second"]


def test_texts_from_files(url: str, tmp_path: Path) -> None:
    lines = tmp_path / "texts.txt"
    lines.write_text("one\ntwo\nthree\n", encoding="utf-8")
    assert [r["text"] for r in records(run(url, "predict", "-m", "tiny_cls", "--jsonl", "-f", str(lines)))] == [
        "one", "two", "three"]
    jsonl = tmp_path / "texts.data"
    jsonl.write_text('{"id": 1, "body": "alpha"}\n{"id": 2, "body": "beta"}\n', encoding="utf-8")
    result = run(url, "predict", "-m", "tiny_cls", "--jsonl", "-f", str(jsonl), "--field", "body")
    assert [r["text"] for r in records(result)] == ["alpha", "beta"]


def test_model_from_the_environment(triton: LocalTriton) -> None:
    result = CliRunner(env={"TRITON_URL": triton.grpc_url, "TRITON_PROTOCOL": "grpc", "TRITON_MODEL": "tiny_emb"}
                       ).invoke(cli, ["predict", "--jsonl", "hi"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["outputs"]["embeddings"]) == 32


def test_client_side_tokenizer_for_tensor_models(url: str, tiny_repository: Path) -> None:
    texts = ["a short one", "and a somewhat longer sentence to tokenize"]
    ensemble = records(run(url, "predict", "-m", "tiny_cls", "--jsonl", *texts))
    for model in ("tiny_cls_onnx", "tiny_cls_torchscript"):
        folder = str(tiny_repository / "tiny_cls_tokenizer")
        tensors = records(run(url, "predict", "-m", model, "--tokenizer", folder, "--jsonl", *texts))
        for one, other in zip(ensemble, tensors):
            assert [label["label"] for label in one["labels"]] == [label["label"] for label in other["labels"]]
            logits = next(value for name, value in other["outputs"].items() if name.startswith("logits"))
            np.testing.assert_allclose(one["outputs"]["logits"], logits, atol=1e-5)


# -- failures ------------------------------------------------------------------------------------------------


def test_blank_arguments_are_skipped_and_positions_kept(url: str) -> None:
    result = run(url, "predict", "-m", "tiny_cls", "")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "Error: Only blank texts given\n")
    result = run(url, "predict", "-m", "tiny_cls", "-b", "2", "--jsonl", "a", "b", "c", " ")
    assert [record["index"] for record in records(result)] == [0, 1, 2]
    assert result.stderr == "Warning: skipped 1 blank text (argument 4); results keep their input positions\n"


def test_blank_lines_of_a_text_file_keep_line_positions(url: str, tmp_path: Path) -> None:
    """index = line number - 1 in JSON; the table's # is the line number; blank lines are named, not renumbered."""
    path = tmp_path / "texts.txt"
    path.write_text("\nfirst\n\n  \nfifth\nsixth\n", encoding="utf-8")
    result = run(url, "predict", "-m", "tiny_cls", "--file", str(path), "--jsonl")
    assert [(r["index"], r["text"]) for r in records(result)] == [(1, "first"), (4, "fifth"), (5, "sixth")]
    assert result.stderr == (f"Warning: skipped 3 blank texts (lines 1, 3, 4 of {path}); results keep their input "
                             f"positions\n")
    table = run(url, "predict", "-m", "tiny_cls", "--file", str(path)).stdout.splitlines()
    assert table[0].split() == ["#", "TEXT", "RESULT"]
    assert [row.split()[:2] for row in table[1:]] == [["2", "first"], ["5", "fifth"], ["6", "sixth"]]


def test_one_empty_jsonl_record_costs_only_itself(url: str, tmp_path: Path) -> None:
    path = tmp_path / "texts.jsonl"
    lines = [json.dumps({"text": "" if i == 137 else f"review number {i}"}) for i in range(200)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(url, "predict", "-m", "tiny_cls", "--file", str(path), "--jsonl", "-b", "64")
    got = records(result)
    assert [r["index"] for r in got] == [i for i in range(200) if i != 137]
    assert all(r["text"] == f"review number {r['index']}" for r in got)
    assert result.stderr == (f"Warning: skipped 1 blank text (line 138 of {path}); results keep their input "
                             f"positions\n")


def test_rejected_requests_are_not_retried(triton: LocalTriton, url: str) -> None:
    """The server's failure count grows as much as for one plain request (an ensemble counts each failure twice)."""
    import tritonclient.http as httpclient

    with httpclient.InferenceServerClient(triton.http_url) as direct:
        def failures() -> int:
            stats = direct.get_inference_statistics("tiny_cls")["model_stats"][0]["inference_stats"]
            return int(stats["fail"]["count"])

        empty = httpclient.InferInput("TEXT", [1, 1], "BYTES")
        empty.set_data_from_numpy(np.array([[b""]], dtype=np.object_))
        before = failures()
        with pytest.raises(Exception, match="TEXT item 0 is empty"):
            direct.infer("tiny_cls", [empty])
        per_request = failures() - before
        assert per_request > 0
        before = failures()
        with TextClient(url, retries=3) as client, pytest.raises(ServerRejected, match="TEXT item 0 is empty"):
            client.connection().infer("tiny_cls", [("TEXT", "BYTES", np.array([[b""]], dtype=np.object_))],
                                      [RequestedOutput("logits")])
        deadline = time.monotonic() + 5  # the statistics follow the answer by a moment
        while failures() - before < per_request and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a retry would land by now
        assert failures() - before == per_request


def test_retries_back_off_on_connection_errors(closed_url: str) -> None:
    started = time.monotonic()
    result = run(closed_url, "--retries", "2", "models")
    assert time.monotonic() - started >= 0.7  # 0.25 s, then 0.5 s
    assert (result.exit_code, result.stderr) == (1, f"Error: Cannot reach Triton at {closed_url}: connection refused\n")


def test_unknown_model_for_predict(url: str) -> None:
    result = run(url, "predict", "-m", "nope", "hi")
    assert result.exit_code == 1
    assert result.stderr == f"Error: Model 'nope' not found on Triton at {url}; available: {', '.join(TINY_MODELS)}\n"


def test_several_text_ensembles_need_a_choice(url: str) -> None:
    result = run(url, "predict", "hi")
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: Triton at {url} holds several text ensembles (tiny_cls, tiny_emb, "
                                  "tiny_tok); choose one with --model or TRITON_MODEL\n")


def test_models_that_cannot_take_the_request(url: str) -> None:
    result = run(url, "predict", "-m", "tiny_cls_onnx", "hi")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Model 'tiny_cls_onnx' takes token tensors (input_ids, attention_mask, "
                                  "token_type_ids), not text: pass --tokenizer (a tokenizer.json or a tokenizer "
                                  "model folder)\n")
    result = run(url, "predict", "-m", "tiny_emb", "--top-k", "2", "hi")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Model 'tiny_emb' has no labelled output to rank classes of "
                                  "(no label file)\n")


def test_timeout(url: str) -> None:
    result = run(url, "--timeout", "0.0001", "--retries", "0", "predict", "-m", "tiny_cls", "-b", "1", "-c", "1",
                 *TEXTS)
    assert result.exit_code == 1
    assert result.stderr == f"Error: Triton at {url} did not answer within 0.0001 s\n"
    # Rows answered before the timeout are kept (never lose output); the run stops at the first late answer.
    assert len([line for line in result.stdout.splitlines()[1:] if line.strip()]) < len(TEXTS)


def test_debug_shows_the_stack_trace(closed_url: str) -> None:
    for flags in ((), ("--verbose",)):
        quiet = run(closed_url, "--retries", "0", *flags, "models")
        assert quiet.exit_code == 1
        assert "Traceback" not in quiet.stderr
    loud = run(closed_url, "--retries", "0", "--debug", "models")
    assert loud.exit_code == 1
    assert loud.stderr.startswith("Traceback (most recent call last):")
    assert "ServerUnreachable" in loud.stderr
    assert loud.stderr.endswith(f"Error: Cannot reach Triton at {closed_url}: connection refused\n")


# -- real processes ----------------------------------------------------------------------------------------------


def test_process_exit_codes_and_one_line_errors(triton: LocalTriton, closed_url: str) -> None:
    command = [sys.executable, "-m", "client"]
    done = subprocess.run([*command, "--url", triton.http_url, "predict", "-m", "tiny_cls", "--jsonl", "-"],
                          input=b"hello\nworld\n", capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == ["hello", "world"]
    failed = subprocess.run([*command, "--url", closed_url, "--retries", "0", "models"], capture_output=True,
                            timeout=60)
    assert (failed.returncode, failed.stderr.decode()) == (
        1, f"Error: Cannot reach Triton at {closed_url}: connection refused\n")


def _in_terminal(args: list[str], lines: int = 10) -> tuple[int, str]:
    """Run ``python -m client ARGS`` with stdout and stderr on a pseudo-terminal of ``lines`` rows."""
    leader, follower = pty.openpty()
    env = {**os.environ, "LINES": str(lines), "COLUMNS": "100"}
    process = subprocess.Popen([sys.executable, "-m", "client", *args], stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


def test_progress_bar_on_a_terminal_for_long_inputs(triton: LocalTriton, tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    base = ["--url", triton.http_url, "predict", "-m", "tiny_cls", "--file", str(path)]
    code, screen = _in_terminal(base)
    assert code == 0
    assert "Predicting" in screen and "50/50" in screen
    assert screen.index("Predicting") < screen.index("TEXT")  # output waits until the bar is done
    assert len([line for line in screen.splitlines() if "text number" in line]) == 50
    code, screen = _in_terminal([*base, "--quiet"])
    assert code == 0 and "Predicting" not in screen
    code, screen = _in_terminal(base, lines=100)  # fits on one screen
    assert code == 0 and "Predicting" not in screen


def test_http_to_a_grpc_port_says_so(triton: LocalTriton) -> None:
    result = subprocess.run([sys.executable, "-m", "client", "--url", triton.grpc_url, "models"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: Cannot talk to Triton at http://{triton.grpc_url}: the answer is "
                                     f"not HTTP (a gRPC port? add --protocol grpc)")
