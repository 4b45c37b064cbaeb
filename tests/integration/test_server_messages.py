"""What the local Triton tells about models that fail: the user's paths, once per failure, served versions only."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from server.config_rewrite import served_versions
from server.errors import ModelLoadError, ServerExitedError
from server.local import LocalTriton
from server.triton_log import LoadFailure
from tests.support.server import BROKEN_MODEL, build_repository


@pytest.fixture(scope="module")
def small_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("messages-repo")
    build_repository(root / "full", root / "work")
    for name in ("tiny_onnx", "tiny_tokenizer"):
        shutil.copytree(root / "full" / name, root / "repo" / name)
    return root / "repo"


def test_load_error_names_the_user_s_file_not_the_shadow_copy(small_repository: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(small_repository, repository)
    (repository / "tiny_onnx" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError) as failed:
        LocalTriton(repository).start()
    message = str(failed.value)
    assert f"{repository.resolve()}/tiny_onnx/1/model.onnx" in message, message
    assert "tritonize-server-" not in message


def test_poll_mode_reports_a_failing_version_once(small_repository: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(small_repository, repository)
    reports: list[LoadFailure] = []
    server = LocalTriton(repository, model_control_mode="poll", repository_poll_secs=1)
    server.start()

    def serve() -> None:
        with contextlib.suppress(ServerExitedError):
            server.serve(reports.append, interval=0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        staged = tmp_path / "staged"
        staged.mkdir()
        (staged / "model.py").write_text(BROKEN_MODEL)
        staged.rename(repository / "tiny_tokenizer" / "2")
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reports, "the failing version was not reported"
        time.sleep(6)  # several polls, each of which makes Triton try version 2 again
    finally:
        server.stop()
        thread.join(timeout=30)
    assert [(r.model, r.version) for r in reports] == [("tiny_tokenizer", 2)]
    assert reports[0].line == "failed to load 'tiny_tokenizer' version 2: Internal: ValueError: weights are missing"


def test_explain_lists_only_the_served_versions(small_repository: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(small_repository, repository)
    shutil.copytree(repository / "tiny_tokenizer" / "1", repository / "tiny_tokenizer" / "3")
    text = LocalTriton(repository).explain()
    assert "tiny_tokenizer  python (as is); versions: 3 (not served by its version_policy: 1)" in text
    assert "tiny_onnx       onnxruntime_onnx → Python-backend adapter (ONNX Runtime); versions: 1\n" in text


@pytest.mark.parametrize(("policy", "served"), [
    (None, (3,)),
    (mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=2)), (2, 3)),
    (mc.ModelVersionPolicy(all=mc.ModelVersionPolicy.All()), (1, 2, 3)),
    (mc.ModelVersionPolicy(specific=mc.ModelVersionPolicy.Specific(versions=[1, 5])), (1,)),
])
def test_served_versions_follow_triton_s_policy(policy: mc.ModelVersionPolicy | None,
                                                served: tuple[int, ...]) -> None:
    assert served_versions(policy, (1, 2, 3)) == served
