"""Progress of the long export steps, shown on a stream and kept as timings."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


class Progress:
    """Prints ``[n] step … done in 1.2 s`` lines and records each step's wall time.

    Args:
        stream: Where to print; ``None`` records timings silently.
    """

    def __init__(self, stream: TextIO | None = sys.stderr) -> None:
        self.stream = stream
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        """Time the block and report it as one step."""
        self._print(f"[{len(self.timings) + 1}] {title} …", end="")
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self._print(" failed")
            raise
        elapsed = time.perf_counter() - start
        self.timings[title] = elapsed
        self._print(f" done in {elapsed:.1f} s")

    def _print(self, text: str, end: str = "\n") -> None:
        if self.stream is not None:
            print(text, end=end, file=self.stream, flush=True)
