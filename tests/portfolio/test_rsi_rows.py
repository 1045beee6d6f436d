"""Portfolio mode reads the RSI row of the strategy's period whatever the feature stack holds: a stack of the one
period the fixed strategy reads (first row = that period) gives the run of the full 10..21 stack exactly.
The entry ranking ("most oversold first") once indexed the stack by the period alone, past a one-row stack's end."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.backtest.engine import Features
from adaptrade.data.synthetic import generate
from adaptrade.portfolio.engine import PortfolioFeatures, run_portfolio_backtest
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig


@pytest.mark.parametrize("period", [14, 21])
def test_one_period_stack_gives_the_full_stack_run(period: int) -> None:
    bars = generate([f"S{i:02d}" for i in range(40)], 600, seed=9)
    cfg = StrategyConfig(kind="fixed", rsi_period=period)
    limits = RiskLimits(initial_cash=cfg.initial_cash, kelly_fraction=0.0, max_position=0.2)  # 5 slots: entries compete
    full = run_portfolio_backtest(bars, cfg, limits)
    one = run_portfolio_backtest(bars, cfg, limits, features=PortfolioFeatures.compute(bars, Features.for_config(bars, cfg)))
    assert one.features is not None and one.features.base.rsi.shape[1] == 1
    assert len(full.orders) > 20
    for name in ("orders", "fills", "trades", "curves"):
        np.testing.assert_array_equal(getattr(one, name), getattr(full, name), err_msg=name)
