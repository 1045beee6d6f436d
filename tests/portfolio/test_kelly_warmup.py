"""Issue 10 section 4: the Kelly warm-up is reported (how long the account sat out) and its source is a
setting: paper trades on the run's data (default) or online statistics learned on an earlier period."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.errors import ConfigError
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.layout import O_CREATED_T
from adaptrade.portfolio.results import build_portfolio_result
from adaptrade.portfolio.warmup import learn_earlier, parse_period, size_emas
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import S_N_TRADES

NAMES = ["AAPL", "MSFT", "INTC", "CSCO", "AMZN", "QCOM", "ADBE", "AMGN", "COST", "PEP"]


def _real(d: Path, start: str, end: str) -> Bars:
    frames = {s: pd.read_csv(d / "ohlcv" / "daily" / f"{s}.csv.gz", parse_dates=["date"]).set_index("date").loc[start:end] for s in NAMES}
    return Bars.from_frames(frames).adjusted()


def test_the_terminal_says_how_long_the_warmup_kept_the_account_out() -> None:
    from adaptrade.commands.portfolio import warmup_line

    bars = generate([f"S{i}" for i in range(8)], 1500, seed=4)
    pr = build_portfolio_result(run_portfolio_backtest(bars, StrategyConfig(), RiskLimits()), None, "none")
    first = int(pr.output.orders[:, O_CREATED_T].min())
    line = warmup_line(pr)
    assert f"out of the market for {first} bars ({first / 252:.1f} years" in line and "paper trades" in line


def test_parse_period_and_size_emas() -> None:
    assert parse_period("2008-01-01..2012-12-31") == ("2008-01-01", "2012-12-31")
    assert parse_period("20261202T061123Z-df36a9") is None
    with pytest.raises(ConfigError):
        parse_period("2012-01-01..2008-01-01")
    e = size_emas(np.array([0, 0, 0, 1]), np.array([5, 9, 7, 3]), np.array([0.1, -0.02, 0.2, -0.05]), 2, 0.5)
    np.testing.assert_allclose(e, [[0.5 * 0.2 + 0.5 * 0.1, 0.02], [np.nan, 0.05]])  # exit order: 5 (0.1), 7 (0.2), 9


def test_learned_on_an_earlier_period_on_real_data(shared_data_dir: Path) -> None:
    run = _real(shared_data_dir, "2013-01-02", "2020-12-31")
    warm = _real(shared_data_dir, "2008-01-01", "2012-12-31")
    cfg, lim = StrategyConfig(), RiskLimits()
    ws = learn_earlier(warm, run.symbols, cfg, run.dates[0])
    assert (ws.states[:, S_N_TRADES] == ws.trades).all() and ws.trades.sum() > 0
    assert np.isfinite(ws.sizes).any()
    paper = run_portfolio_backtest(run, cfg, lim)
    learned = run_portfolio_backtest(run, cfg, lim, states=ws.states, sizes=ws.sizes)
    assert learned.orders[:, O_CREATED_T].min() < paper.orders[:, O_CREATED_T].min()  # no years of sitting out
    with pytest.raises(ConfigError, match="must end before the run starts"):
        learn_earlier(_real(shared_data_dir, "2010-01-01", "2013-06-28"), run.symbols, cfg, run.dates[0])
