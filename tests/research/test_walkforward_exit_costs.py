"""Issue 10 section 4: walk-forward stitching sells a position open at a window's end with its exit
costs (slippage and commission) before carrying the value into the next window."""

from __future__ import annotations

import numpy as np

from adaptrade.data.synthetic import generate
from adaptrade.research.walkforward import stitched_oos, walk_forward
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import S_SHARES


def test_a_position_open_at_a_window_end_pays_its_exit_costs() -> None:
    bars = generate(["AAA", "BBB", "CCC", "DDD"], 700, seed=5)
    cfg = StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=2, slippage_bps=20.0, commission_bps=10.0)
    runs = walk_forward(bars, cfg, 200, 100, "carry")
    eq, _ = stitched_oos(runs, bars)
    cash0 = cfg.initial_cash
    slip, comm = 20e-4, 10e-4
    checked = 0
    for r, nxt in zip(runs[:-1], runs[1:]):
        out = r.out_of_sample
        b = r.window.oos_end
        for i in np.flatnonzero(out.final_states[:, S_SHARES] > 0):
            shares = out.final_states[i, S_SHARES]
            close = out.bars.close[i, -1]
            level = eq[i, r.window.is_end] / (out.equity[i, 0] / cash0)  # the level this window started from
            mark = out.equity[i, -1]
            sold = mark - shares * close * (1.0 - (1.0 - slip) * (1.0 - comm))
            assert eq[i, b - 1] == np.float64(level * sold / cash0) or np.isclose(eq[i, b - 1], level * sold / cash0, rtol=1e-12)
            # the next window starts from the value after exit costs, not from the mark
            start_next = eq[i, nxt.window.is_end] / (nxt.out_of_sample.equity[i, 0] / cash0)
            np.testing.assert_allclose(start_next, level * sold / cash0, rtol=1e-12)
            assert sold < mark
            checked += 1
    assert checked > 0, "no window ended with an open position"
