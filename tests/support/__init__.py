"""Helpers shared by the test tiers (``tests/unit``, ``tests/integration``, ``tests/e2e``); test modules import
from here, never from each other.

- :mod:`.exports`: ``export_into`` (a CPU export for test servers) and tokenizing as a served tokenizer model does.
- :mod:`.tiny_models`, :mod:`.tiny_families`: tiny model folders built in seconds.
- :mod:`.server`: hand-built repositories (no exporter) and process helpers for the local Triton.
- :mod:`.deploy`: Helm and Kubernetes schema helpers.
- :mod:`.docker_image`: what the Triton image provides (its Python, the pinned Python-backend packages).
- :mod:`.tools`: ``require_tool``: a test that needs a missing program fails naming it.
- :mod:`.traceback_guard`: no CLI run prints a stack trace (autouse, from ``tests/conftest.py``).
- ``golden/``: golden configs and the Kubernetes CRD schemas.
"""

from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parents[2]
#: Golden files.
GOLDEN = Path(__file__).resolve().parent / "golden"
