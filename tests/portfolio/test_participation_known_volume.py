"""Issue 10 section 4: the participation cap at the open uses only volume known before the fill
(the average daily volume up to the previous close), not the fill day's total volume."""

from __future__ import annotations

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.layout import F_ORDER, F_QTY, F_T, O_CREATED_T
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig


def test_fill_day_volume_does_not_change_the_fill() -> None:
    bars = generate([f"S{i}" for i in range(4)], 700, seed=5)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.5, participation=1e-5, max_order_bars=3)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    first = out.fills[0]
    i, t = int(out.orders[int(first[F_ORDER]), 0]), int(first[F_T])
    vol = bars.volume.copy()
    vol[i, t] *= 50.0  # a huge volume on the fill day itself, unknown at 9:30
    changed = Bars(dates=bars.dates, symbols=bars.symbols, open=bars.open, high=bars.high, low=bars.low,
                   close=bars.close, volume=vol, valid=bars.valid)
    out2 = run_portfolio_backtest(changed, StrategyConfig(), lim)
    assert int(out.orders[int(first[F_ORDER]), O_CREATED_T]) < t
    assert first[F_QTY] < lim.participation * bars.volume[i, t] * 50.0  # the cap binds on that fill
    assert out2.fills[0, F_QTY] == first[F_QTY]  # today's code takes 50x more shares on that bar
    np.testing.assert_allclose(out2.curves[:, :t + 1], out.curves[:, :t + 1])
