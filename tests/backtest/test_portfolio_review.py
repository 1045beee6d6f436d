"""Portfolio mode review fixes: reported drawdown vs the breaker's re-based peak, orders in stocks
whose data ends, decisions independent of when a stock's data ends."""

from __future__ import annotations

import numpy as np

from adaptrade.backtest.portfolio import run_portfolio_backtest
from adaptrade.backtest.portfolio_layout import RE_RULE
from adaptrade.backtest.portfolio_results import build_portfolio_result
from adaptrade.data.synthetic import generate
from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import RULE_RESET, RULE_TRIPPED
from adaptrade.strategy.params import StrategyConfig


def test_reported_drawdown_is_from_the_never_reset_high_water_mark() -> None:
    bars = generate([f"S{i}" for i in range(8)], 1500, seed=0, mean_reversion=False)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.3, max_drawdown=0.05, breaker_cooldown=10,
                     stop_loss_pct=0, stop_loss_vol_k=0)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    rules = out.events[:, RE_RULE]
    assert (rules == RULE_TRIPPED).any() and (rules == RULE_RESET).any()  # the breaker trips and re-bases
    eq = out.equity
    true_dd = 1.0 - eq / np.maximum.accumulate(eq)
    np.testing.assert_allclose(out.curves[3], true_dd, atol=1e-12)
    pr = build_portfolio_result(out, None, "none")
    assert abs(pr.account_summary()["max_drawdown"] - true_dd.max()) < 1e-12
    np.testing.assert_allclose(pr.account["drawdown"].to_numpy(), true_dd, atol=1e-12)
