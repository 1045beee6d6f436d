"""GET /runs/{run_id}/equity: the run's curves as the report draws them, read from the store.

* bar_by_bar (runs stored since schema version 8): the stored `run_curves` (average or account equity,
  buy-and-hold, benchmark, drawdown); for one stock its stored equity (`run_equity`) normalised at its
  first bar, the benchmark normalised at the same bar, buy-and-hold null (not stored per stock);
* realised_at_exit (older runs): the mean over stocks of the equity realised at each trade exit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adaptrade.backtest.curves import benchmark_base, drawdown, ffill


def _day(value: Any) -> str:
    """YYYY-MM-DD of a stored date (datetime, date or ISO text)."""
    return value.date().isoformat() if hasattr(value, "date") and callable(value.date) else str(value)[:10]


def _num(value: Any) -> float | None:
    """A finite float, else None."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _arr(values: list[Any]) -> np.ndarray:
    """Stored doubles (None for NULL) as a float64 array with NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _points(dates: list[str], equity: np.ndarray, buy_hold: np.ndarray | None, benchmark: np.ndarray | None,
            dd: np.ndarray) -> list[dict[str, Any]]:
    """One point per date where `equity` has a value."""
    out = []
    for k, d in enumerate(dates):
        e = _num(equity[k])
        if e is None:
            continue
        out.append({"date": d, "equity": e, "buy_hold": None if buy_hold is None else _num(buy_hold[k]),
                    "benchmark": None if benchmark is None else _num(benchmark[k]), "drawdown": _num(dd[k])})
    return out


def stored_average(curves: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The stored curves of the run as points (rows without a strategy value left out)."""
    dates = [_day(r[0]) for r in curves]
    cols = [_arr([r[j] for r in curves]) for j in range(1, 5)]
    return _points(dates, cols[0], cols[1], cols[2], cols[3])


def stock_curve(equity: list[tuple[Any, ...]], curves: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """One stock's points: its equity / its first bar's, drawdown of that, and the run's benchmark close (stored with
    the curves) normalised at the stock's first bar as the report does (forward-filled; a later start: its first value)."""
    dates = [_day(r[0]) for r in equity]
    eq = _arr([r[1] for r in equity])
    with np.errstate(invalid="ignore", divide="ignore"):
        strat = eq / eq[0]
    bench = None
    if curves:
        at = {_day(r[0]): k for k, r in enumerate(curves)}
        close = _arr([r[5] for r in curves])
        if np.isfinite(close).any() and dates and dates[0] in at:
            b = ffill(close)
            base = benchmark_base(b, np.array([at[dates[0]]]))[0]
            with np.errstate(invalid="ignore", divide="ignore"):
                bench = np.array([b[at[d]] / base if d in at else np.nan for d in dates])
    return _points(dates, strat, None, bench, drawdown(strat))


def realised(trades: Any, symbols: list[str]) -> list[dict[str, Any]]:
    """The mean over `symbols` of the equity realised at each trade exit (1.0 until a stock's first exit)."""
    if not len(trades):
        return []
    t = trades.assign(mult=1.0 + trades["return"].astype(float))
    t["equity"] = t.groupby("symbol")["mult"].cumprod()
    last = t.groupby(["exit_date", "symbol"])["equity"].last().unstack("symbol").sort_index().ffill()
    wide = last.reindex(columns=symbols).ffill().fillna(1.0)
    curve = wide.mean(axis=1).to_numpy(dtype=np.float64)
    return _points([str(d)[:10] for d in wide.index], curve, None, None, drawdown(curve))


def equity_doc(store: Any, run_id: str, sym: str | None, symbols: list[str]) -> dict[str, Any]:
    """The Equity document's curve fields (basis, view, benchmark_symbol, every point) of run `run_id` (`sym`: one stock;
    `symbols`: the run's stocks, or that one)."""
    mode, bench_symbol = store.run_labels(run_id)
    curves = store.run_curves(run_id)
    view = "stock" if sym is not None else ("account" if mode == "portfolio" else "mean_of_stocks")
    points: list[dict[str, Any]] = []
    if sym is not None:
        eq = store.symbol_equity(run_id, sym)
        if eq:
            points = stock_curve(eq, curves)
    elif curves:
        points = stored_average(curves)
    if points:
        return {"basis": "bar_by_bar", "view": view, "benchmark_symbol": bench_symbol, "points": points}
    trades = store.trade_returns(run_id)
    if sym is not None:
        trades = trades[trades["symbol"] == sym]
    return {"basis": "realised_at_exit", "view": "stock" if sym is not None else "mean_of_stocks", "benchmark_symbol": bench_symbol,
            "points": realised(trades, symbols)}  # a portfolio run's too: the mean of its stocks' realised trades
