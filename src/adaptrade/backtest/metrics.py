"""Per-stock performance metrics, vectorised over the [symbol, t] equity array.

Conventions (checked against empyrical-reloaded in the tests): simple daily returns of the
account value between consecutive valid bars; Sharpe = sqrt(252) * mean(r - rf/252) /
std(r - rf/252, ddof=1); max drawdown is a negative fraction; returns are fractions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TRADING_DAYS = 252


@njit(cache=True)
def _equity_stats(equity: np.ndarray, valid: np.ndarray, in_market: np.ndarray, initial: float, rf_daily: float) -> np.ndarray:
    """Per row: total return, Sharpe, max drawdown, exposure, first and last valid index."""
    n, t_len = equity.shape
    out = np.full((n, 6), np.nan)
    for i in range(n):
        first = -1
        last = -1
        prev = initial
        peak = initial
        mdd = 0.0
        m = 0
        held = 0
        nvalid = 0
        mean = 0.0
        m2 = 0.0
        for t in range(t_len):
            if not valid[i, t]:
                continue
            if first < 0:
                first = t
            last = t
            nvalid += 1
            e = equity[i, t]
            if in_market[i, t]:
                held += 1
            if t != first:
                r = e / prev - 1.0 - rf_daily
                m += 1
                d = r - mean  # Welford: numerically stable variance
                mean += d / m
                m2 += d * (r - mean)
            prev = e
            if e > peak:
                peak = e
            dd = e / peak - 1.0
            if dd < mdd:
                mdd = dd
        if first < 0:
            continue
        out[i, 0] = equity[i, last] / initial - 1.0
        if m > 1:
            sd = math.sqrt(m2 / (m - 1))
            out[i, 1] = mean / sd * math.sqrt(TRADING_DAYS) if sd > 0.0 else np.nan
        out[i, 2] = mdd
        out[i, 3] = held / nvalid
        out[i, 4] = first
        out[i, 5] = last
    return out


MAX_BENCHMARK_GAP = 5  # bars: an older benchmark value is not "the same date"


def _value_at_or_before(series: np.ndarray, idx: np.ndarray, max_gap: int = MAX_BENCHMARK_GAP) -> np.ndarray:
    """series[idx], else the last finite value at most `max_gap` bars before idx (NaN otherwise).

    A benchmark that does not cover a stock's dates gives NaN, never a return over other dates.
    """
    finite = np.isfinite(series)
    pos = np.where(finite, np.arange(series.size), -1)
    last_finite = np.maximum.accumulate(pos)
    j = last_finite[idx]
    ok = (j >= 0) & (idx - j <= max_gap)
    return np.where(ok, series[np.maximum(j, 0)], np.nan)


def stock_metrics(
    equity: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    in_market: np.ndarray,
    trade_symbol: np.ndarray,
    trade_return: np.ndarray,
    trade_closed: np.ndarray,
    benchmark_close: np.ndarray | None,
    initial_cash: float,
    risk_free_rate: float = 0.0,
) -> dict[str, np.ndarray]:
    """Column arrays, one value per symbol: the metrics of stocks.csv (fractions, not percent)."""
    n = equity.shape[0]
    rf_daily = (1.0 + risk_free_rate) ** (1.0 / TRADING_DAYS) - 1.0
    st = _equity_stats(equity, valid, in_market, float(initial_cash), rf_daily)
    first = np.nan_to_num(st[:, 4], nan=0).astype(np.intp)
    last = np.nan_to_num(st[:, 5], nan=0).astype(np.intp)
    has = np.isfinite(st[:, 4])
    rows = np.arange(n)
    bh = np.where(has, close[rows, last] / close[rows, first] - 1.0, np.nan)
    if benchmark_close is not None:
        b_first = _value_at_or_before(benchmark_close, first)
        b_last = _value_at_or_before(benchmark_close, last)
        bench = np.where(has, b_last / b_first - 1.0, np.nan)
    else:
        bench = np.full(n, np.nan)
    closed_sym = trade_symbol[trade_closed].astype(np.intp)
    n_closed = np.bincount(closed_sym, minlength=n)
    n_wins = np.bincount(closed_sym, weights=(trade_return[trade_closed] > 0).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(n_closed > 0, n_wins / np.maximum(n_closed, 1), np.nan)
    total = st[:, 0]
    return {
        "total_return": total,
        "buy_hold_return": bh,
        "benchmark_return": bench,
        "outperformance": total - bench,
        "excess_vs_buy_hold": total - bh,
        "win_rate": win_rate,
        "sharpe": st[:, 1],
        "max_drawdown": st[:, 2],
        "trades": n_closed.astype(np.int64),
        "exposure": st[:, 3],
        "first_index": first,
        "last_index": last,
    }
