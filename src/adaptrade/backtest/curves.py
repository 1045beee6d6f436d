"""A run's curves normalised to 1.0: strategy, buy & hold and benchmark per stock, their means over
stocks, and drawdowns. One implementation for the HTML report (reports/html.py) and the curves stored
with a run (storage/curves.py), so both show the same numbers."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from adaptrade.backtest.results import BacktestResult


def ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs along the last axis (leading NaNs stay NaN)."""
    ok = np.isfinite(a)
    pos = np.where(ok, np.arange(a.shape[-1]), -1)
    j = np.maximum.accumulate(pos, axis=-1)
    out = np.take_along_axis(a, np.maximum(j, 0), axis=-1) if a.ndim > 1 else a[np.maximum(j, 0)]
    return np.where(j >= 0, out, np.nan)


def benchmark_base(b: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The benchmark value each stock is normalised by: the forward-filled close `b` at the stock's first bar
    `first`, else the first value after it (a benchmark that starts later than the stock)."""
    return np.where(np.isfinite(b[first]), b[first], ffill(b[::-1])[::-1][first])


def normalised(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Strategy, buy & hold and benchmark curves [symbol, t], 1.0 at each stock's first valid bar."""
    bars = result.output.bars
    valid = bars.valid
    n, t = valid.shape
    has = valid.any(axis=1)
    first = valid.argmax(axis=1)
    last = t - 1 - valid[:, ::-1].argmax(axis=1)
    tt = np.arange(t)
    span = (tt >= first[:, None]) & (tt <= last[:, None]) & has[:, None]
    rows = np.arange(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        eq = result.output.equity
        strat = np.where(span, eq / eq[rows, first][:, None], np.nan)
        close = ffill(np.where(valid, bars.close, np.nan))
        bh = np.where(span, close / close[rows, first][:, None], np.nan)
        bench = None
        if result.benchmark_close is not None and np.isfinite(result.benchmark_close).any():
            b = ffill(np.asarray(result.benchmark_close, dtype=np.float64))
            bench = np.where(span, b[None, :] / benchmark_base(b, first)[:, None], np.nan)
    return strat, bh, bench


def mean_curves(strat: np.ndarray, bh: np.ndarray, bench: np.ndarray | None) -> list[np.ndarray | None]:
    """The average curves: the mean over stocks of each normalised curve per bar (NaN ignored; NaN where no stock has a value)."""
    with warnings.catch_warnings():  # "mean of empty slice" for dates no stock covers
        warnings.simplefilter("ignore", RuntimeWarning)
        return [np.nanmean(a, axis=0) if a is not None else None for a in (strat, bh, bench)]


def drawdown(curve: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak (0 at highs, negative below)."""
    peak = np.fmax.accumulate(np.where(np.isfinite(curve), curve, -np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(curve), curve / peak - 1.0, np.nan)
