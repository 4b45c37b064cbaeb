"""``client`` usage and input errors, caught before any request: no server is needed (nothing listens on the URL)."""

from __future__ import annotations

from pathlib import Path

from tests.support.client_cli import run

#: Nothing listens here: a test that reached the server would fail with a connection error instead.
URL = "http://127.0.0.1:1"


def test_json_and_jsonl_together_is_a_usage_error() -> None:
    result = run(URL, "predict", "-m", "tiny_cls", "--json", "--jsonl", "x")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Choose one of --json and --jsonl\n")


def test_empty_input(tmp_path: Path) -> None:
    result = run(URL, "predict", "-m", "tiny_cls", "-", stdin="")
    assert (result.exit_code, result.stderr) == (1, "Error: No texts in stdin\n")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    result = run(URL, "predict", "-m", "tiny_cls", "--file", str(blank))
    assert (result.exit_code, result.stderr) == (1, f"Error: No texts in {blank}\n")
    result = run(URL, "predict", "-m", "tiny_cls")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: No texts given: pass TEXT arguments, --file PATH, or - to read stdin\n")


def test_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine\nalso fine\ncaf\u00e9\n".encode("latin-1"))
    result = run(URL, "predict", "-m", "tiny_cls", "--file", str(path))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {path} line 3 is not valid UTF-8 (byte 4)\n"
    result = run(URL, "predict", "-m", "tiny_cls", "-", stdin=b"ok\n\xff\n")
    assert result.stderr == "Error: stdin line 2 is not valid UTF-8 (byte 1)\n"


def test_usage_errors_exit_2() -> None:
    assert run(URL, "--protocol", "soap", "health").exit_code == 2
    assert run(URL, "predict", "-m", "tiny_cls", "--batch-size", "0", "x").exit_code == 2
    result = run("grpc://127.0.0.1:1", "--protocol", "http", "health")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: URL 'grpc://127.0.0.1:1' is a grpc URL but the protocol is http\n")
