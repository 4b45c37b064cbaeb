"""What the Triton image offers the Python-backend models: its Python version and the pinned packages."""

from __future__ import annotations

import ast
import re

from tests.support import ROOT

#: Python of the Triton 24.10 image.
CONTAINER_PYTHON = (3, 10)
DOCKER = ROOT / "docker"


def requirements() -> dict[str, str]:
    """The pins of docker/requirements.txt by normalised package name."""
    pins = {}
    for line in (DOCKER / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"pin {line} with =="
            pins[re.sub(r"[-_.]+", "_", name.lower())] = version
    return pins


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level modules a module imports (absolute imports)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imported_outside_fallbacks(tree: ast.AST) -> set[str]:
    """Modules imported, less the ``except ImportError:`` fallbacks used only from the source tree."""
    fallbacks = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                if isinstance(handler.type, ast.Name) and handler.type.id == "ImportError":
                    fallbacks |= imported_modules(ast.Module(body=handler.body, type_ignores=[]))
    return imported_modules(tree) - fallbacks
