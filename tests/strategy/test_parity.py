"""The same strategy object in paper trading (bar by bar from Python) and in the compiled
backtest loop takes identical decisions on the same bars."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.kernel import T_ENTRY_PRICE, T_EXIT_PRICE, T_EXIT_T, T_SHARES
from adaptrade.data.synthetic import generate
from adaptrade.strategy import AdaptiveRSIStrategy, StrategyEnsemble
from adaptrade.strategy.params import StrategyConfig


@pytest.mark.wiring  # both paths call the compiled `step`; the real-data parity test is test_live_parity_real.py
def test_live_stepping_matches_backtest_kernel() -> None:
    bars = generate(["PAR1", "PAR2"], 1500, seed=3)
    # a hole in the middle of one symbol: invalid bars must be skipped the same way
    valid = bars.valid.copy()
    valid[1, 700:705] = False
    from adaptrade.data.bars import Bars

    bars = Bars(dates=bars.dates, symbols=bars.symbols, open=bars.open, high=bars.high, low=bars.low, close=bars.close, volume=bars.volume, valid=valid)
    for cfg in (StrategyConfig(), StrategyConfig(kind="fixed", whole_shares=True), StrategyConfig(fill="close")):
        out = run_backtest(bars, cfg)
        for i, sym in enumerate(bars.symbols):
            strat = AdaptiveRSIStrategy(sym, cfg)
            signals, fills = [], []
            for t in range(bars.n_bars):
                d = strat.on_bar(bars.dates[t], bars.open[i, t], bars.close[i, t], bool(bars.valid[i, t]))
                signals.append(d.signal)
                if d.trade_closed:
                    fills.append((d.entry_price, d.fill_price, d.fill_shares))
            # the backtest does not fill the last bar's signal; live has no last bar
            np.testing.assert_array_equal(np.array(signals[:-1]), out.signal[i, :-1])
            closed = out.trades[(out.trades[:, 0] == i) & (out.trades[:, T_EXIT_T] >= 0)]
            expected = [(r[T_ENTRY_PRICE], r[T_EXIT_PRICE], r[T_SHARES]) for r in closed]
            assert fills[: len(expected)] == expected
            assert len(expected) > 3


def test_snapshot_restore_continues_identically() -> None:
    bars = generate(["SNAP"], 800, seed=11)
    cfg = StrategyConfig()
    a = AdaptiveRSIStrategy("SNAP", cfg)
    for t in range(400):
        a.on_bar(bars.dates[t], bars.open[0, t], bars.close[0, t])
    b = AdaptiveRSIStrategy.restore(a.snapshot(), cfg)
    for t in range(400, 800):
        da = a.on_bar(bars.dates[t], bars.open[0, t], bars.close[0, t])
        db = b.on_bar(bars.dates[t], bars.open[0, t], bars.close[0, t])
        assert da == db
    assert a.stats == b.stats and a.current == b.current


def test_ensemble_signals_are_the_per_stock_backtest_signals() -> None:
    """`StrategyEnsemble.signals()` of each bar: exactly the non-zero signals the backtest gives on that bar."""
    bars = generate(["E1", "E2", "E3"], 400, seed=5)
    cfg = StrategyConfig(buy=35.0, sell=65.0)
    out = run_backtest(bars, cfg)
    ens = StrategyEnsemble(bars.symbols, cfg)
    buys = sells = 0
    for t in range(bars.n_bars - 1):
        decisions = ens.on_bars(bars.dates[t], {s: (bars.open[i, t], bars.close[i, t], True) for i, s in enumerate(bars.symbols)})
        sig = ens.signals(decisions)
        assert sig == {s: int(out.signal[i, t]) for i, s in enumerate(bars.symbols) if out.signal[i, t] != 0}, t
        buys += sum(v > 0 for v in sig.values())
        sells += sum(v < 0 for v in sig.values())
    assert buys >= 5 and sells >= 5
