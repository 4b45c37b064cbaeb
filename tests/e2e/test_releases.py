"""The release table (tritonize.releases) and everything that must agree with it; exports for three releases."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from export.cli import main as export_main
from export.settings import DEFAULT_TRITON_RELEASE, ExportSettings
from tests.support.exports import export_into
from tritonize.errors import UsageError
from tritonize.releases import (
    BULLETINS,
    DEFAULT_RELEASE,
    LOCAL_RELEASE,
    RELEASES,
    local_differences,
    release,
    supported,
    warning,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: Oldest, one in between and the newest row, exported and served below. 26.07's PyTorch generation (2.13) is
#: this environment's torch, so the middle row adds no multi-GB download (24.10: torch 2.5.0, 26.08: torch 2.14.0).
COVERED = ("24.10", "26.07", DEFAULT_RELEASE)


def _month(tag: str) -> int:
    year, month = map(int, tag.split("."))
    return year * 12 + month


# ------------------------------------------------------------------------------------------------------- the table
def test_every_monthly_release_from_24_09_is_a_row_in_order() -> None:
    tags = [r.tag for r in RELEASES]
    assert tags[0] == "24.09"
    assert [_month(t) for t in tags] == list(range(_month(tags[0]), _month(tags[-1]) + 1)), "a month is missing"
    assert [tuple(map(int, r.triton.split("."))) for r in RELEASES] == sorted(
        tuple(map(int, r.triton.split("."))) for r in RELEASES)


def test_cells_are_well_formed_and_sourced() -> None:
    for row in RELEASES:
        assert row.python == ("3.10" if row.tag in ("24.09", "24.10") else "3.12"), row.tag
        assert row.onnxruntime is None or re.fullmatch(r"1\.\d+\.\d+", row.onnxruntime), row.tag
        assert row.torch is None or re.fullmatch(r"2\.\d+\.0a0", row.torch), row.tag
        assert row.torch_pypi == (row.torch and row.torch.removesuffix("a0")), row.tag
        assert ("Blackwell" in row.gpus) == (tuple(map(int, row.cuda.split("."))) >= (12, 8)), row.tag
        assert ("Volta" in row.gpus) == (int(row.cuda.split(".")[0]) < 13), row.tag
        assert "build.py" in row.source and "torch:" in row.source, row.tag
    opsets = {}
    for row in RELEASES:  # one ONNX Runtime, one max opset
        assert opsets.setdefault(row.onnxruntime, row.max_opset) == row.max_opset, row.tag


def test_default_is_the_newest_confirmed_release_and_has_no_serious_bulletin() -> None:
    assert DEFAULT_RELEASE == DEFAULT_TRITON_RELEASE == ExportSettings().triton_release
    assert [r.tag for r in RELEASES if r.confirmed][-1] == DEFAULT_RELEASE
    assert not release(DEFAULT_RELEASE).serious_bulletins
    assert warning(DEFAULT_RELEASE) is None


def test_bulletins_name_releases_of_the_table() -> None:
    tags = {r.tag for r in RELEASES}
    assert len({b.cve for b in BULLETINS}) == len(BULLETINS)
    for bulletin in BULLETINS:
        assert bulletin.fixed_in in tags and re.fullmatch(r"CVE-20\d\d-\d{4,5}", bulletin.cve)
        assert re.fullmatch(r"20\d\d/\d{4}", bulletin.bulletin)
    # August 2025: everything up to 25.06 has the chunked-encoding and Python-backend chain.
    assert {"CVE-2025-23310", "CVE-2025-23311", "CVE-2025-23319"} <= {b.cve for b in release("24.10").bulletins}
    assert "CVE-2025-23310" not in {b.cve for b in BULLETINS if b.affects("25.07")}
    assert [b.cve for b in BULLETINS if b.affects("24.12") and b.cve == "CVE-2024-53880"] == []
    assert [b.cve for b in BULLETINS if b.affects("24.11") and b.cve == "CVE-2024-53880"] == ["CVE-2024-53880"]


def test_an_affected_release_warns_in_one_line_naming_the_critical_ones() -> None:
    line = warning("24.10")
    assert line is not None and "\n" not in line and line.startswith("warning: Triton 24.10")
    for cve in ("CVE-2025-23310", "CVE-2025-23311", "CVE-2026-24207"):
        assert cve in line
    assert f"default: {DEFAULT_RELEASE}" in line


def test_unknown_and_unconfirmed_releases_are_refused_with_the_reason() -> None:
    with pytest.raises(UsageError, match=r"Unknown Triton release '23.01'. Supported: 24.09, 24.10, .*26.08"):
        release("23.01")
    with pytest.raises(UsageError, match="PyTorch version is not confirmed"):
        release("25.07")
    with pytest.raises(UsageError, match="ONNX Runtime and PyTorch version is not confirmed"):
        release("26.09")
    assert "25.07" not in supported() and "24.09" in supported()


@pytest.mark.parametrize(("tag", "message"), [("23.01", "Unknown Triton release"), ("25.07", "not confirmed")])
def test_export_cli_refuses_before_any_work(tag: str, message: str) -> None:
    result = CliRunner().invoke(export_main, ["--triton-release", tag])
    assert result.exit_code == 2 and message in result.output


def test_local_server_is_the_release_the_table_says() -> None:
    from server.bundle import TRITON_VERSION

    assert release(LOCAL_RELEASE).triton == TRITON_VERSION
    note = local_differences(DEFAULT_RELEASE)
    assert note is not None and release(DEFAULT_RELEASE).onnxruntime in note and "2.51.0" in note
    assert local_differences(LOCAL_RELEASE) is None


# ------------------------------------------------------------------------------------ what must agree with it
def test_docker_helm_and_kserve_use_the_default_release() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG TRITON_RELEASE=(\S+)$", dockerfile, re.M).group(1) == DEFAULT_RELEASE
    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "tritonize" / "Chart.yaml").read_text())
    assert chart["annotations"]["tritonize.io/triton-release"] == DEFAULT_RELEASE
    assert f"({DEFAULT_RELEASE}, Triton {release(DEFAULT_RELEASE).triton.rsplit('.', 1)[0]})" in chart["description"]
    example = yaml.safe_load((ROOT / "deploy" / "helm" / "examples" / "object-storage.yaml").read_text())
    assert example["image"]["tag"] == f"{DEFAULT_RELEASE}-py3"
    runtime = yaml.safe_load((ROOT / "deploy" / "kserve" / "servingruntime.yaml").read_text())
    assert runtime["metadata"]["name"] == f"tritonize-triton-{DEFAULT_RELEASE.replace('.', '-')}"
    manifests = "".join(p.read_text() for p in (ROOT / "deploy").rglob("*.yaml")) + dockerfile
    stale = {m for m in re.findall(r"tritonserver:(\d\d\.\d\d)-py3", manifests)} - {DEFAULT_RELEASE}
    assert not stale, f"images of another release: {stale}"


def test_docs_show_the_table_and_every_bulletin() -> None:
    releases_doc = (DOCS / "releases.md").read_text()
    for row in RELEASES:
        cells = [row.tag, row.triton, row.python, row.onnxruntime or "?", str(row.max_opset), row.torch or "?",
                 row.torch_pypi or "—", row.cuda, row.min_driver]
        assert "| " + " | ".join(cells) + " |" in releases_doc, f"docs/releases.md row of {row.tag}"
    security = (DOCS / "security.md").read_text()
    for bulletin in BULLETINS:
        assert bulletin.cve in security, bulletin.cve
    assert re.search(rf"default release,\s+{re.escape(DEFAULT_RELEASE)}", security)


# ---------------------------------------------------------------------- three releases exported and served
@pytest.fixture(scope="module")
def three_releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    repository = tmp_path_factory.mktemp("releases") / "model_repository"
    results = {}
    for tag in COVERED:
        started = time.monotonic()
        results[tag] = export_into(repository, None, f"minilm_{tag.replace('.', '')}", triton_release=tag)
        print(f"export for {tag}: {time.monotonic() - started:.1f} s")
    return repository, results


@pytest.mark.slow
@pytest.mark.server
def test_three_releases_pass_their_release_checks_and_serve_locally(three_releases) -> None:
    from client.text_client import TextClient
    from server.local import LocalTriton

    repository, results = three_releases
    for tag, result in results.items():
        row = release(tag)
        artifacts = {check.artifact for check in result.report.checks}
        assert f"onnx@ort-{row.onnxruntime}" in artifacts, (tag, artifacts)
        assert f"torchscript@torch-{row.torch_pypi}" in artifacts, (tag, artifacts)
    texts = ["A repository exported for a newer Triton still serves here.", "short"]
    with LocalTriton(repository) as server, TextClient(server.http_url) as client:
        embeddings = {tag: np.stack([p.outputs["embeddings"] for p in
                                     client.predict(texts, model=f"minilm_{tag.replace('.', '')}")])
                      for tag in COVERED}
    for tag in COVERED:
        np.testing.assert_allclose(embeddings[tag], embeddings[COVERED[0]], atol=1e-4)


def test_server_explain_says_what_the_local_triton_changes(tmp_path: Path) -> None:
    from server.cli import main as server_main

    result = CliRunner().invoke(server_main, ["--repository", str(tmp_path), "--explain"])
    assert result.exit_code == 0, result.output
    assert f"Local server: Triton 2.51.0 (NGC {LOCAL_RELEASE}" in result.output
    assert local_differences(DEFAULT_RELEASE) in result.output
