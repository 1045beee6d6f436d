"""A portfolio run's curves, 1.0 at the first bar: the account equity, an equal-weight buy-and-hold of
the same universe and the benchmark on the account's dates, and the account drawdown. One
implementation for the HTML report's account figures and the curves stored with the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adaptrade.backtest.curves import drawdown

if TYPE_CHECKING:
    from adaptrade.backtest.results import BacktestResult


@dataclass(frozen=True)
class AccountCurves:
    """The account's dates and curves (each one value per date; None: not available)."""

    dates: np.ndarray  # datetime64[D]
    equity: np.ndarray  # account equity / its first positive value
    buy_hold: np.ndarray | None  # equal-weight buy & hold / its first value (None: not on the account's dates)
    benchmark: np.ndarray | None  # benchmark close on the account dates (forward-filled) / its first value
    benchmark_close: np.ndarray | None  # that close before normalising
    drawdown: np.ndarray  # the account's own drawdown column (from its high-water mark), else from `equity`


def account_curves(account: pd.DataFrame, result: BacktestResult) -> AccountCurves:
    """The curves of `account` (date, equity, drawdown, ...) of the portfolio run `result` (its bars, benchmark, costs)."""
    x = pd.to_datetime(account["date"]).to_numpy().astype("datetime64[D]")
    eq = account["equity"].to_numpy(dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(eq) & (eq > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = eq / eq[ok[0]] if ok.size else np.full(eq.shape, np.nan)
    bench = close = None
    bc = result.benchmark_close
    if bc is not None and len(bc) and np.isfinite(bc).any():
        b = pd.Series(np.asarray(bc, dtype=np.float64), index=result.output.bars.dates.astype("datetime64[D]"))
        close = b[~b.index.duplicated()].reindex(x).ffill().to_numpy()
        fin = np.flatnonzero(np.isfinite(close))
        if fin.size:
            bench = close / close[fin[0]]
    if "drawdown" in account:
        dd = -np.abs(account["drawdown"].to_numpy(dtype=np.float64))
    else:
        dd = drawdown(curve)
    from adaptrade.portfolio.account import equal_weight_buy_hold

    cfg = result.output.config
    ew = equal_weight_buy_hold(result.output.bars, 1.0, cfg.slippage_bps / 1e4, cfg.commission_bps / 1e4)
    ew = ew / ew[0] if len(ew) == len(x) and len(ew) and ew[0] > 0 else None
    return AccountCurves(x, curve, ew, bench, close, dd)
