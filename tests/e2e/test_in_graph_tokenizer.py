"""Why exports keep the Python tokenizer model: the findings docs/performance.md states, rechecked.

onnxruntime-extensions (isolated venv, built once into the cache) converts the bundled MiniLM's tokenizer
into ONNX ops, but not token-exactly (accents, CJK, control characters), converts none of the tiny families'
tokenizers, and its custom-op library is a CPython extension that does not load in a process without
libpython, such as the ``tritonserver`` that runs Triton's ONNX Runtime backend. When one of these changes,
the single-model path deserves another look.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import in_graph_tokenizer as in_graph
from export.source import bundled_source
from tests.support.tiny_families import FAMILIES, make_family

pytestmark = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="needs a C compiler")


def test_in_graph_tokenizer_is_not_token_exact_nor_loadable_outside_python(tmp_path: Path) -> None:
    families = [f for f in FAMILIES if f.name in ("bert", "roberta", "qwen3")]
    folders = [bundled_source().folder] + [make_family(tmp_path / f.name, f) for f in families]
    minilm, *tiny = in_graph.probe(folders)
    assert minilm.differ and minilm.differ < minilm.texts  # prose agrees, the hard texts do not
    assert "Café" in minilm.first
    assert all(result.differ is None and "Unsupported" in result.first for result in tiny)
    loads, said = in_graph.loads_without_python(in_graph.ops_library())
    assert not loads and "undefined symbol: Py" in said
