"""The benchmark's value at a stock's date, with the gap rule every layer uses (per-stock metrics,
the sweep, the account): the last finite benchmark close at most `MAX_BENCHMARK_GAP` bars before the
date, else NaN — a benchmark that does not cover a stock's dates never gives a return over other dates."""

from __future__ import annotations

import numpy as np

MAX_BENCHMARK_GAP = 5  # bars: an older benchmark value is not "the same date"


def value_at_or_before(series: np.ndarray, idx: np.ndarray | int, max_gap: int = MAX_BENCHMARK_GAP) -> np.ndarray:
    """series[idx], else the last finite value at most `max_gap` bars before idx (NaN otherwise)."""
    s = np.asarray(series, dtype=np.float64)
    i = np.asarray(idx, dtype=np.intp)
    finite = np.isfinite(s)
    pos = np.where(finite, np.arange(s.size), -1)
    last_finite = np.maximum.accumulate(pos) if s.size else pos
    j = last_finite[i]
    ok = (j >= 0) & (i - j <= max_gap)
    return np.where(ok, s[np.maximum(j, 0)], np.nan)


def benchmark_return(series: np.ndarray, first: np.ndarray | int, last: np.ndarray | int,
                     max_gap: int = MAX_BENCHMARK_GAP) -> np.ndarray:
    """Benchmark return from bar `first` to bar `last` under the gap rule (NaN when either end is stale)."""
    return value_at_or_before(series, last, max_gap) / value_at_or_before(series, first, max_gap) - 1.0
