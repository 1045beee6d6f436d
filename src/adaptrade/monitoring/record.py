"""Record a finished backtest (per-stock or portfolio) and a data load's quality report into `Metrics`.

Numbers come from the result tables themselves (the same ones summary.json and the store hold), so
/metrics never shows a figure the run's files do not.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from prometheus_client import Counter

from adaptrade.backtest.aggregate import aggregate
from adaptrade.backtest.results import BacktestResult
from adaptrade.data.validate import QualityReport
from adaptrade.monitoring.metrics import Metrics
from adaptrade.portfolio.results import PortfolioResult, account_summary

DEFECT_KINDS = ("missing_sessions", "zero_volume", "nan_rows", "jumps")


def _count_sides(counter: Counter, frame: pd.DataFrame, mode: str) -> None:
    """Add one per row of `frame` (columns symbol, side) to `counter{symbol, side, mode}`."""
    if frame.empty:
        return
    sizes = frame.groupby(["symbol", "side"], observed=True).size()
    for (symbol, side), n in sizes.items():
        counter.labels(str(symbol), str(side), mode).inc(int(n))


def _pnl(trades: pd.DataFrame, closed: pd.Series) -> tuple[float, float]:
    """(realised, unrealised): P&L of closed trades, and of open ones marked at the last close."""
    pnl = trades["pnl"].to_numpy(dtype=float)
    mask = closed.to_numpy(dtype=bool)
    return float(pnl[mask].sum()), float(pnl[~mask].sum())


def _finite(x: float | None) -> float | None:
    """x, or None when it is missing or not finite (the gauge then shows NaN)."""
    v = float(x) if x is not None else float("nan")
    return v if np.isfinite(v) else None


def record_backtest(metrics: Metrics, result: BacktestResult, *, run: str, seconds: float | None = None) -> None:
    """A finished per-stock run: its fills (every fill is one next-open market order, so orders = fills),
    stock-bars, P&L summed over the stocks, and under account "per_stock_mean" the mean Sharpe and mean
    max drawdown of summary.json. Per-stock runs have no account: no current drawdown or breaker gauge."""
    mode = "per_stock"
    tr = result.trades
    closed = tr["exit_date"].notna()
    sides = pd.concat([pd.DataFrame({"symbol": tr["symbol"].astype(str), "side": "buy"}),
                       pd.DataFrame({"symbol": tr.loc[closed, "symbol"].astype(str), "side": "sell"})])
    _count_sides(metrics.fills, sides, mode)
    _count_sides(metrics.orders, sides, mode)
    metrics.bars_processed(int(result.output.bars.valid.sum()), mode)
    realized, unrealized = _pnl(tr, closed)
    agg = aggregate(result.stocks)
    mdd = _finite(agg["mean_max_drawdown"])
    metrics.set_run(run, "per_stock_mean", {
        "realized": realized, "unrealized": unrealized, "sharpe": _finite(agg["mean_sharpe"]),
        "max_drawdown": abs(mdd) if mdd is not None else None, "finished_at": time.time(),
    })
    if seconds is not None:
        metrics.duration.labels(mode).observe(seconds)


def record_portfolio(metrics: Metrics, pr: PortfolioResult, *, run: str, account: str = "portfolio",
                     seconds: float | None = None) -> None:
    """A finished portfolio run: orders and fills by symbol and side, stock-bars, realised/unrealised P&L of
    the real (not paper) trades, and the account's Sharpe, drawdowns, breaker, equity and gross exposure."""
    mode = "portfolio"
    _count_sides(metrics.orders, pr.orders[["symbol", "side"]], mode)
    _count_sides(metrics.fills, pr.fills[["symbol", "side"]], mode)
    metrics.bars_processed(int(pr.output.bars.valid.sum()), mode)
    real = pr.trades_all[~pr.trades_all["paper"]]
    realized, unrealized = _pnl(real, real["exit_date"] != "")
    summary = account_summary(pr)
    acc = pr.account
    last = acc.iloc[-1] if len(acc) else None
    metrics.set_run(run, account, {
        "realized": realized, "unrealized": unrealized,
        "sharpe": summary["sharpe"],
        # gauges hold drawdowns as positive fractions (the alert rules compare them with a positive limit)
        "max_drawdown": abs(summary["max_drawdown"]) if summary["max_drawdown"] is not None else None,
        "drawdown": abs(float(last["drawdown"])) if last is not None else None,
        "breaker": float(bool(last["breaker"])) if last is not None else None,
        "breaker_trips": float((pr.events["rule"] == "breaker_tripped").sum()),
        "equity": summary["final_equity"],
        "gross": float(last["gross"]) if last is not None else None,
        "finished_at": time.time(),
    })
    if seconds is not None:
        metrics.duration.labels(mode).observe(seconds)


def record_quality(metrics: Metrics, report: QualityReport) -> None:
    """A data load: defects found by kind and rows repaired under the report's policy."""
    totals = report.totals
    for kind in DEFECT_KINDS:
        metrics.defects.labels(kind).inc(totals[kind])
    metrics.repairs.labels(report.policy).inc(totals["repaired"])
