"""Split work into batches and run them with several requests in flight, yielding results in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def sorted_batches(lengths: Sequence[int], size: int, window: int = 0) -> list[list[int]]:
    """Group item indices into batches of ``size``, items of similar length together.

    Items are sorted by length within consecutive windows of ``window`` items (0: no sorting), so each
    request carries texts of similar length and the server pads less. Batches never span two windows, so
    results can be put back in order once a window is done.

    Returns:
        Index lists, in the order to send them.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    batches: list[list[int]] = []
    step = window if window > 0 else max(len(lengths), 1)
    for start in range(0, len(lengths), step):
        indices = list(range(start, min(start + step, len(lengths))))
        if window > 0:
            indices.sort(key=lambda i: lengths[i])
        batches.extend(indices[i:i + size] for i in range(0, len(indices), size))
    return batches


def restore_order(results: Iterable[Sequence[tuple[int, R]]]) -> Iterator[R]:
    """Yield ``(index, value)`` pairs, arriving in any order, as values in index order 0, 1, 2, ..."""
    held: dict[int, R] = {}
    following = 0
    for batch in results:
        held.update(batch)
        while following in held:
            yield held.pop(following)
            following += 1
    if held:
        raise ValueError(f"indices missing before {min(held)}")


def ordered_map(function: Callable[[T], R], items: Iterable[T], concurrency: int = 1,
                executor: ThreadPoolExecutor | None = None) -> Iterator[R]:
    """Apply ``function`` to ``items`` on ``concurrency`` threads; yield results in the order of ``items``.

    At most ``concurrency`` calls run at once and at most ``2 * concurrency`` are queued ahead of the result
    being waited for. The first exception stops the work: calls not started are cancelled, running ones are
    awaited, and the exception propagates.

    Args:
        function: Called once per item.
        items: The work, consumed lazily.
        concurrency: Calls in flight; 1 runs everything on the calling thread.
        executor: A pool with ``concurrency`` workers to reuse (its threads keep their thread-local state);
            by default one is made and shut down for this call.
    """
    if concurrency <= 1:
        yield from map(function, items)
        return
    pending: deque[Future[R]] = deque()
    source = iter(items)
    owned = executor is None
    if executor is None:
        executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="triton-request")
    try:
        for item in source:
            pending.append(executor.submit(function, item))
            if len(pending) >= 2 * concurrency:
                break
        while pending:
            result = pending.popleft().result()
            for item in source:
                pending.append(executor.submit(function, item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        if owned:
            executor.shutdown(wait=True)
        else:
            for future in pending:
                with suppress(BaseException):
                    future.exception()
