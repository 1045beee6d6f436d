"""Row blocks on a thread pool: how the compiled per-stock passes (the engine's loop, the metrics) use every core.

Each block is a contiguous range of stocks handed to a GIL-free (`nogil`) kernel, so the blocks run side by side
and the result is the one-thread result, bit for bit (stocks are independent).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, TypeVar

import numpy as np

R = TypeVar("R")
MIN_BARS_PER_THREAD = 250_000  # below this a thread's start-up and the split cost more than the second core gives
_CAP: ContextVar[int | None] = ContextVar("adaptrade_threads_cap", default=None)


@contextmanager
def threads_at_most(n: int | None) -> Iterator[None]:
    """Within the block, `default_threads` gives at most `n` (the serial executor: one core; `--workers N`: N)."""
    token = _CAP.set(None if n is None else max(1, int(n)))
    try:
        yield
    finally:
        _CAP.reset(token)


def default_threads(n_symbols: int, n_bars: int) -> int:
    """Threads for a per-stock pass when not told: every core for a large universe called from the main thread, one
    when called from a worker thread (a batch of the parallel runner: no pool inside a pool) or for a small one."""
    if threading.current_thread() is not threading.main_thread():
        return 1
    cap = _CAP.get()
    cores = os.cpu_count() or 1
    return max(1, min(cores if cap is None else min(cap, cores), n_symbols, (n_symbols * n_bars) // MIN_BARS_PER_THREAD))


def map_row_blocks(n: int, threads: int, fn: Callable[[int, int], R]) -> list[R]:
    """[fn(lo, hi) for each of `threads` contiguous blocks of 0..n-1], in order; on the calling thread when one."""
    k = max(1, min(int(threads), n))
    bounds = np.linspace(0, n, k + 1).astype(int)
    if k == 1:
        return [fn(0, n)]
    with ThreadPoolExecutor(k, thread_name_prefix="adaptrade-rows") as pool:
        return list(pool.map(fn, bounds[:-1].tolist(), bounds[1:].tolist()))
