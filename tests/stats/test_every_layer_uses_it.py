"""Issue 10 section 3: per-stock metrics (stocks.csv), the sweep and the account use the one statistics
module: stocks.csv's new columns match empyrical on real data; the sweep applies the benchmark gap rule."""

from __future__ import annotations

import math
from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd

from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.results import STOCK_COLUMNS, STOCK_EXTRA_COLUMNS, build_result
from adaptrade.data.bars import Bars
from adaptrade.stats import MAX_BENCHMARK_GAP, daily_rf
from adaptrade.strategy.params import StrategyConfig


def _real(shared_data_dir: Path) -> tuple[Bars, np.ndarray]:
    names = ["AAPL", "MSFT", "INTC", "CSCO", "AMZN"]
    frames = {s: pd.read_csv(shared_data_dir / "ohlcv" / "daily" / f"{s}.csv.gz", parse_dates=["date"]).set_index("date")
              .loc["2011-01-01":"2018-12-31"] for s in names}
    bars = Bars.from_frames(frames).adjusted()
    spy = pd.read_csv(shared_data_dir / "benchmark" / "SPY.csv", parse_dates=["date"]).set_index("date")["close"]
    bench = spy.reindex(pd.DatetimeIndex(bars.dates.astype("datetime64[ns]"))).to_numpy()
    return bars, bench


def test_stocks_csv_columns_agree_with_empyrical(shared_data_dir: Path) -> None:
    bars, bench = _real(shared_data_dir)
    res = build_result(run_backtest(bars, StrategyConfig()), bench, "SPY", risk_free_rate=0.02)
    s = res.stocks
    assert list(s.columns[: len(STOCK_COLUMNS)]) == STOCK_COLUMNS
    assert set(STOCK_EXTRA_COLUMNS) <= set(s.columns)
    rf_d = daily_rf(0.02)
    for i, sym in enumerate(bars.symbols):
        v = bars.valid[i]
        eq = res.output.equity[i, v]
        r = eq[1:] / eq[:-1] - 1.0
        b = bench[v]
        br = b[1:] / b[:-1] - 1.0
        row = s.iloc[i]
        close = lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)  # noqa: E731
        close(row["sharpe"], ep.sharpe_ratio(r, risk_free=rf_d))
        close(row["sortino"], ep.sortino_ratio(r, required_return=rf_d))
        close(row["annual_return"], ep.annual_return(r))
        close(row["annual_volatility"], ep.annual_volatility(r))
        close(row["max_drawdown"], ep.max_drawdown(r))
        a, be = ep.alpha_beta(r, br, risk_free=rf_d)
        close(row["alpha"], a)
        close(row["beta"], be)
        assert row["start"] == str(bars.dates[v][0]) and row["end"] == str(bars.dates[v][-1])
        assert row["max_drawdown"] <= 0


def test_the_sweep_uses_the_benchmark_gap_rule() -> None:
    from adaptrade.research.sweep import TrialMetrics, trial_row

    bench = np.full(40, np.nan)
    bench[:5] = 100.0  # the benchmark stops at bar 4; the stock ends at bar 30: stale by far more than the gap
    tm = TrialMetrics(total_return=np.array([0.1]), buy_hold_return=np.array([0.05]), sharpe=np.array([1.0]),
                      win_rate=np.array([0.5]), trades=np.array([3]), first=np.array([0]), last=np.array([30]),
                      excess_sharpe=0.1, excess_skew=0.0, excess_kurt=3.0, n_obs=30, mean_daily_excess=0.0)
    assert 30 - 4 > MAX_BENCHMARK_GAP
    row = trial_row(0, {}, StrategyConfig(), tm, bench, None)
    assert math.isnan(row["median_outperformance"])  # today the sweep scored against the stale close
