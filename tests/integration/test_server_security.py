"""The local Triton listens on loopback only by default, and its admin APIs need the key when one is set."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner
from tritonclient.utils import InferenceServerException

from client.errors import ClientError
from client.text_client import TextClient
from server.cli import _exposure_warning
from server.flags import API_KEY_HEADER, RESTRICTED_APIS, ServerFlags, restricted_args
from server.local import LocalTriton
from tests.support.server import build_repository

pytestmark = pytest.mark.server

KEY = "s3cret-key"


def listeners(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process ``pid`` listens on, read from /proc (what ``ss -ltn`` shows)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            words = bytes.fromhex(address)  # /proc stores each 32-bit word in host (little-endian) order
            raw = b"".join(words[i:i + 4][::-1] for i in range(0, len(words), 4))
            found.add((socket.inet_ntop(family, raw).removeprefix("::ffff:"), int(port, 16)))
    return found


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security-repo")
    build_repository(root / "repo", root / "work")
    return root / "repo"


@pytest.fixture(scope="module")
def server(repository: Path) -> LocalTriton:
    with LocalTriton(repository, ready_timeout=90, api_key=KEY) as running:
        yield running


def test_by_default_every_listener_is_on_loopback(server: LocalTriton) -> None:
    found = listeners(server.pid)
    ports = set(server.ports.values())
    assert ports <= {port for _, port in found}, (found, ports)
    assert {address for address, _ in found} == {"127.0.0.1"}, found


def test_a_restricted_call_without_the_key_is_refused_and_with_it_succeeds(server: LocalTriton) -> None:
    with httpclient.InferenceServerClient(server.http_url) as client:
        assert client.is_server_ready()  # health stays open for probes
        assert client.get_model_config("tiny_onnx")  # so does what the client's predict path reads
        with pytest.raises(InferenceServerException, match="(?i)restricted|header"):
            client.get_model_repository_index()
        index = client.get_model_repository_index(headers={API_KEY_HEADER: KEY})
        assert "tiny_onnx" in {model["name"] for model in index}
        with pytest.raises(InferenceServerException):
            client.get_model_repository_index(headers={API_KEY_HEADER: "wrong"})
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException):
        grpc.get_model_repository_index()
    assert grpc.get_model_repository_index(headers={f"triton-grpc-protocol-{API_KEY_HEADER}": KEY}).models
    grpc.close()


def test_flags_bind_every_protocol_and_restrict_the_admin_groups() -> None:
    args = ServerFlags(address="127.0.0.1", api_key=KEY).to_args()
    for flag in ("--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"):
        assert flag in args
    groups = ",".join(RESTRICTED_APIS)
    assert restricted_args(KEY) == [f"--http-restricted-api={groups}:{API_KEY_HEADER}={KEY}",
                                    f"--grpc-restricted-protocol={groups}:{API_KEY_HEADER}={KEY}"]
    assert not {"health", "metadata", "inference"} & set(RESTRICTED_APIS), "probes and clients need these open"
    assert not any("restricted" in a for a in ServerFlags().to_args())


def test_exposing_the_server_warns_with_the_local_bulletins() -> None:
    line = _exposure_warning("0.0.0.0")
    assert line.startswith("warning: listening on 0.0.0.0") and "CVE-2025-23310" in line and "\n" not in line


def test_host_option_is_documented_with_loopback_default() -> None:
    from server.cli import main

    text = CliRunner().invoke(main, ["--help"]).output
    assert "--host" in text and "127.0.0.1" in text and "TRITONIZE_API_KEY" in text


def test_an_explicit_host_exposes_every_protocol(repository: Path) -> None:
    with LocalTriton(repository, ready_timeout=90, host="0.0.0.0") as running:
        found = listeners(running.pid)
    assert {address for address, port in found if port in running.ports.values()} <= {"0.0.0.0", "::"}, found


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_client_sends_the_key_when_given_one(server: LocalTriton, protocol: str) -> None:
    url = server.http_url if protocol == "http" else server.grpc_url
    with TextClient(url, protocol, api_key=KEY) as client:
        assert "tiny_onnx" in {entry.name for entry in client.models()}
    with TextClient(url, protocol) as client, pytest.raises(ClientError):
        client.models()


def test_the_client_cli_takes_the_key_from_the_environment(server: LocalTriton) -> None:
    from client.cli import cli

    args = ["--url", server.http_url, "models"]
    assert CliRunner().invoke(cli, args, env={"TRITONIZE_API_KEY": KEY}).exit_code == 0
    refused = CliRunner().invoke(cli, args, env={"TRITONIZE_API_KEY": ""})
    assert refused.exit_code != 0 and "Traceback" not in refused.output
