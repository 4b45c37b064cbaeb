"""Programs some tests need: a missing one fails the test with its name and how to get it, never a skip."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def require_tool(program: str, how: str) -> str:
    """The path of ``program`` (on PATH or beside this Python); fails the calling test naming it when missing.

    Args:
        program: Executable name (``helm``, ``haproxy``, ``hadolint`` ...).
        how: How to install it, e.g. ``make setup`` or ``sudo apt-get install -y haproxy``.
    """
    found = shutil.which(program) or shutil.which(program, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{program} is needed by this test and is not installed: {how}", pytrace=False)
    return found
