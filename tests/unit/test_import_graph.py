"""The import rules, read statically from every module's AST: the contract flows downward, nothing reaches up.

- ``tritonize/`` is the shared leaf: it imports none of the project's other packages.
- ``client/``, ``server/`` and ``gateway/`` never import ``export/`` (they share its contract via
  :mod:`tritonize.contract`), so a client install needs no exporter and no PyTorch.
- ``benchmarks/`` sits on top: no package of the project imports it (tests may).
- ``tune/`` uses export, server and client (it exports variants, serves candidates, measures them); no package
  imports it either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tritonize", "export", "client", "server", "gateway", "deploy", "benchmarks", "tune")

#: Package → the project packages it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "tritonize": set(PACKAGES) - {"tritonize"},
    "client": {"export", "server", "deploy", "benchmarks", "gateway", "tune"},
    # The local server may start the gateway beside Triton (``--gateway-port``); the gateway never imports it.
    "server": {"export", "benchmarks", "tune"},
    "gateway": {"export", "server", "deploy", "benchmarks", "tune"},
    # The exporter's load check serves the staged repository in the local Triton (server/), never through client/.
    "export": {"benchmarks", "client", "deploy", "gateway", "tune"},
    "deploy": {"benchmarks", "export", "tune"},
    # ``python -m tune`` sits beside benchmarks on top of export, server and client; nothing imports it.
    "tune": {"benchmarks", "deploy", "gateway"},
}


def imported_packages(path: Path) -> dict[str, int]:
    """Top-level project packages that one module imports (at any depth of its body) → first line."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                found.setdefault(top, node.lineno)
    return found


def violations(package: str) -> list[str]:
    """``file:line imports X`` for each forbidden import in ``package``."""
    folder = ROOT / package
    if not folder.is_dir():
        return []
    return [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in sorted(folder.rglob("*.py"))
        for imported, line in imported_packages(path).items()
        if imported in FORBIDDEN[package]
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package: str) -> None:
    assert violations(package) == []


def test_imported_packages_reads_nested_and_dotted_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom export.settings import X\n\ndef f():\n    import client.cli as c\n"
                      "from . import sibling\n")
    assert imported_packages(module) == {"export": 2, "client": 5}


def test_contract_is_the_leaf_the_client_reads() -> None:
    # The client and the server take the contract from tritonize/, the one place it is defined.
    users = [path.relative_to(ROOT).as_posix() for package in ("client", "server")
             for path in sorted((ROOT / package).rglob("*.py")) if "tritonize.contract" in path.read_text()]
    assert "client/plan.py" in users and "server/flags.py" in users


def test_test_modules_import_helpers_only_from_tests_support() -> None:
    # Shared helpers live in tests/support; a test module never imports another one (or a conftest).
    offending = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offending += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                          if name.startswith("tests.") and not name.startswith("tests.support")]
    assert offending == []
