"""What a portfolio run reports: the account's figures beside an equal-weight buy-and-hold of the same
universe and the benchmark over the same dates (all from `adaptrade.stats`), and the per-stock
attribution table (attribution.csv). Per-stock rows are never counted as "beat the benchmark" or
"recommended": a stock's share of one account's P&L is not a strategy."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
import pandas as pd

from adaptrade import stats
from adaptrade.data.bars import Bars

ATTRIBUTION_COLUMNS = ["symbol", "sector", "pnl", "contribution", "trades", "win_rate", "exposure"]


def _f(x: float) -> float | None:
    """A JSON-friendly float (None for NaN / inf)."""
    v = float(x)
    return v if np.isfinite(v) else None


def curve_figures(values: np.ndarray, bench_r: np.ndarray | None, risk_free_rate: float) -> dict[str, float | None]:
    """Total and annualised return, volatility, Sharpe, Sortino, max drawdown (negative), Calmar, and
    CAPM alpha (annualised) / beta against the benchmark's daily returns on the same days."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    v = v[ok]
    if v.size < 2:
        return {k: None for k in ("total_return", "annual_return", "annual_volatility", "sharpe", "sortino", "max_drawdown",
                                  "calmar", "alpha", "beta")}
    r = stats.simple_returns(v)
    rf_d = stats.daily_rf(risk_free_rate)
    out = {
        "total_return": _f(v[-1] / v[0] - 1.0),
        "annual_return": _f(stats.annual_return(r)),
        "annual_volatility": _f(stats.annual_volatility(r)),
        "sharpe": _f(stats.sharpe(r, rf_d)),
        "sortino": _f(stats.sortino(r, rf_d)),
        "max_drawdown": _f(stats.max_drawdown(r)),
        "calmar": _f(stats.calmar(r)),
        "alpha": None,
        "beta": None,
    }
    if bench_r is not None:
        a, b = stats.alpha_beta(r, np.ascontiguousarray(np.asarray(bench_r, dtype=np.float64)[ok[1:] & ok[:-1]]), rf_d)
        out["alpha"], out["beta"] = _f(a), _f(b)
    return out


def benchmark_curve(benchmark_close: np.ndarray | None, n_bars: int) -> np.ndarray | None:
    """The benchmark close on every bar of the run under the gap rule (NaN where it is stale)."""
    if benchmark_close is None:
        return None
    return stats.value_at_or_before(np.asarray(benchmark_close, dtype=np.float64), np.arange(n_bars))


@njit(cache=True, nogil=True)
def _equal_weight_value(close: np.ndarray, valid: np.ndarray, sleeve: float, slippage: float, commission: float) -> np.ndarray:
    """The summed sleeves of `equal_weight_buy_hold`, one pass per stock (the sum taken row by row in stock order, as
    numpy's axis-0 sum of the [stock, t] values does, so the same bits)."""
    n, t_len = close.shape
    total = np.zeros(t_len)
    row = np.empty(t_len)
    for i in range(n):
        first = -1
        mark = np.nan
        shares = 0.0
        for t in range(t_len):
            x = close[i, t]
            if valid[i, t] and np.isfinite(x):
                if first < 0:
                    first = t
                    shares = sleeve / (x * (1.0 + slippage) * (1.0 + commission))
                mark = x  # marked at its last known close
            row[t] = shares * mark if first >= 0 else sleeve
        for t in range(t_len):
            total[t] = row[t] if i == 0 else total[t] + row[t]
    return total


def equal_weight_buy_hold(bars: Bars, initial_cash: float, slippage: float, commission: float) -> np.ndarray:
    """An equal-weight buy-and-hold of the run's universe: each stock gets initial_cash / n, bought at its
    first valid close (paying slippage and commission once), held to the end and marked at its last known
    close; cash until its first bar. No rebalancing."""
    n, t_len = bars.close.shape
    if n == 0:
        return np.full(t_len, float(initial_cash))
    return _equal_weight_value(np.ascontiguousarray(bars.close, dtype=np.float64), np.ascontiguousarray(bars.valid),
                               float(initial_cash / n), float(slippage), float(commission))


def account_aggregate(equity: np.ndarray, bars: Bars, gross: np.ndarray, fills_value: float, benchmark_close: np.ndarray | None,
                      benchmark_symbol: str, initial_cash: float, slippage: float, commission: float,
                      risk_free_rate: float) -> dict[str, Any]:
    """summary.json `aggregate` in portfolio mode: the account beside equal-weight buy-and-hold and the benchmark."""
    t_len = bars.n_bars
    bench = benchmark_curve(benchmark_close, t_len)
    bench_r = None if bench is None else np.concatenate([[np.nan], bench[1:] / bench[:-1] - 1.0])[1:]
    acct = curve_figures(equity, bench_r, risk_free_rate)
    years = max(t_len - 1, 1) / stats.TRADING_DAYS
    mean_eq = float(np.mean(equity)) if len(equity) else float("nan")
    ew = equal_weight_buy_hold(bars, initial_cash, slippage, commission)
    out: dict[str, Any] = {
        "mode": "portfolio",
        "stocks": bars.n_symbols,
        "start": str(bars.dates[0]) if t_len else None,
        "end": str(bars.dates[-1]) if t_len else None,
        **acct,
        "exposure": _f(np.mean(gross)) if len(gross) else None,
        "turnover": _f(fills_value / mean_eq / years) if mean_eq > 0 else None,
        "equal_weight_buy_hold": curve_figures(ew, bench_r, risk_free_rate),
        "benchmark": {"symbol": benchmark_symbol, **(curve_figures(bench, None, risk_free_rate) if bench is not None
                                                    else curve_figures(np.array([]), None, risk_free_rate))},
        "note": "account figures; per-stock rows are attribution (attribution.csv), never counted as beat or recommended",
    }
    if bench is not None and np.isfinite(bench).sum() >= 2:
        out["benchmark"]["total_return"] = _f(stats.benchmark_return(bench, 0, t_len - 1))
    return out


def attribution_frame(stocks: pd.DataFrame, initial_cash: float, sectors: dict[str, str] | None = None) -> pd.DataFrame:
    """attribution.csv: each stock's P&L, its contribution to the account return (P&L / starting cash),
    closed trades, win rate and time in the market."""
    sec = sectors or {}
    return pd.DataFrame({
        "symbol": stocks["symbol"].astype(str),
        "sector": [sec.get(str(s), "") for s in stocks["symbol"]],
        "pnl": stocks["total_return"].to_numpy() * initial_cash,
        "contribution": stocks["total_return"].to_numpy(),
        "trades": stocks["trades"].to_numpy(),
        "win_rate": stocks["win_rate"].to_numpy(),
        "exposure": stocks["exposure"].to_numpy(),
    }, columns=ATTRIBUTION_COLUMNS).sort_values(["contribution", "symbol"], ascending=[False, True], kind="mergesort")
