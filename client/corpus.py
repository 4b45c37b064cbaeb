"""Default benchmark corpora of real English, available offline: sentences and paragraphs of standard-library docs."""

from __future__ import annotations

import importlib
import random
import re
import warnings
from functools import lru_cache

#: Standard-library modules whose documentation is rich in plain English prose.
MODULES = (
    "abc", "argparse", "array", "ast", "asyncio", "bisect", "calendar", "codecs", "collections", "configparser",
    "contextlib", "copy", "csv", "ctypes", "dataclasses", "datetime", "decimal", "difflib", "email", "enum",
    "filecmp", "fnmatch", "fractions", "functools", "gc", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html", "http.client", "inspect", "io", "itertools", "json", "locale", "logging", "math", "mmap", "numbers",
    "operator", "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "secrets", "select",
    "selectors", "shutil", "signal", "socket", "sqlite3", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "time", "traceback", "typing", "unicodedata", "unittest",
    "urllib.request", "uuid", "warnings", "weakref", "xml.etree.ElementTree", "zipfile",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_CODE_LIKE = re.compile(r"[{}\[\]=_<>|\\]|\w\.\w|\s-\w|::")


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """Every prose sentence (30–300 characters) of the modules' docstrings, deduplicated, in a fixed order."""
    found: dict[str, None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            for text in _docstrings(module):
                for sentence in _SENTENCE_END.split(" ".join(text.split())):
                    if _is_prose(sentence):
                        found[sentence] = None
    return tuple(found)


def corpus(count: int = 512, seed: int = 0) -> list[str]:
    """``count`` sentences in a shuffled but reproducible order (repeated when more are asked than exist)."""
    pool = list(sentences())
    random.Random(seed).shuffle(pool)
    return [pool[i % len(pool)] for i in range(count)]


#: Words per paragraph of :func:`paragraphs`: about 100–300 tokens for BERT-style vocabularies.
PARAGRAPH_WORDS = (75, 220)


def paragraphs(count: int = 512, seed: int = 0) -> list[str]:
    """``count`` paragraph-length texts: consecutive corpus sentences joined to 75–220 words, reproducibly."""
    pool = list(sentences())
    rng = random.Random(seed)
    low, high = PARAGRAPH_WORDS
    texts = []
    while len(texts) < count:
        target = rng.randint(low, high)
        start = rng.randrange(len(pool))
        words: list[str] = []
        parts = []
        for offset in range(len(pool)):
            sentence = pool[(start + offset) % len(pool)]
            if len(words) + len(sentence.split()) > high:
                continue
            parts.append(sentence)
            words += sentence.split()
            if len(words) >= target:
                break
        texts.append(" ".join(parts))
    return texts


def _docstrings(module: object) -> list[str]:
    docs = [module.__doc__ or ""]
    for attribute in sorted(vars(module)):
        if attribute.startswith("_"):
            continue
        doc = getattr(getattr(module, attribute, None), "__doc__", None)
        if isinstance(doc, str):
            docs.append(doc)
    return docs


def _is_prose(sentence: str) -> bool:
    return (
        30 <= len(sentence) <= 300
        and sentence[0].isupper()
        and sentence.endswith(".")
        and ">>>" not in sentence
        and sentence.count("(") == sentence.count(")")
        and not _CODE_LIKE.search(sentence)
    )
