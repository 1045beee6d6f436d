"""The bar-by-bar curves stored with a run (table `run_curves`, one row per bar), because the bars
themselves are not in the store: the curves report.html draws, from the same code.

* per-stock run: the mean over stocks of normalised strategy equity, of normalised buy-and-hold and of
  the benchmark normalised at each stock's first bar (a streamed run: the running sums it kept);
* portfolio run: the account equity / its first value, equal-weight buy-and-hold, the benchmark.

`drawdown` is the strategy curve's (the account's own drawdown column in portfolio mode) and
`benchmark_close` the benchmark's raw close on each date, so one stock's benchmark can be normalised
at that stock's first date when read back. Per-stock buy-and-hold is not stored (it would be stocks x
bars again): the equity endpoint leaves it null for one stock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["date", "strategy", "buy_hold", "benchmark", "drawdown", "benchmark_close"]


def _col(values: np.ndarray | None, n: int) -> np.ndarray:
    """`values` as float64, or NaN everywhere when absent or not one value per date."""
    if values is None or len(values) != n:
        return np.full(n, np.nan)
    return np.asarray(values, dtype=np.float64)


def curves_frame(dates: np.ndarray, strategy: np.ndarray, buy_hold: np.ndarray | None, benchmark: np.ndarray | None,
                 drawdown: np.ndarray, benchmark_close: np.ndarray | None) -> pd.DataFrame:
    """The run_curves table of one run (COLUMNS; NaN where a curve has no value)."""
    n = len(dates)
    return pd.DataFrame({"date": np.asarray(dates).astype("datetime64[ns]"), "strategy": _col(strategy, n),
                         "buy_hold": _col(buy_hold, n), "benchmark": _col(benchmark, n), "drawdown": _col(drawdown, n),
                         "benchmark_close": _col(benchmark_close, n)})


def run_curves(result: Any, account: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """The curves of `result` (a BacktestResult, or a streamed run carrying its running means in `average`),
    with `account` in portfolio mode; None when there is nothing to store (no stock had a bar)."""
    from adaptrade.backtest.curves import drawdown, mean_curves, normalised

    if account is not None and len(account):
        from adaptrade.portfolio.curves import account_curves

        c = account_curves(account, result)
        return curves_frame(c.dates, c.equity, c.buy_hold, c.benchmark, c.drawdown, c.benchmark_close)
    average = getattr(result, "average", None)
    if average is None:
        if not hasattr(result.output, "equity"):
            return None
        average = mean_curves(*normalised(result))
    strat, bh, bench = average
    if strat is None or not np.isfinite(strat).any():
        return None
    bc = result.benchmark_close
    return curves_frame(result.output.bars.dates, strat, bh, bench, drawdown(strat), None if bc is None else np.asarray(bc, dtype=np.float64))
