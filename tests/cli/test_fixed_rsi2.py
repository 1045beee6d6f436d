"""`--strategy fixed` takes any RSI period >= 2 (RSI(2) is a classic); the 10..21 bounds are the adaptive range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.helpers import cli, one_line_error

RSI2 = ("--strategy", "fixed", "--rsi-period", "2", "--buy", "10", "--sell", "90")


@pytest.mark.parametrize("mode", ["per-stock", "portfolio"])
def test_fixed_rsi2_runs_in_both_modes(tmp_path: Path, mode: str) -> None:
    r = cli("backtest", *RSI2, "--stocks", "3", "--bars", "500", "--no-store", "--mode", mode, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "RSI 2, 10/90" in r.stdout
    assert pd.read_csv(tmp_path / "o" / "stocks.csv")["trades"].sum() > 0


def test_adaptive_keeps_its_bounds_and_fixed_refuses_below_two(tmp_path: Path) -> None:
    one_line_error(cli("backtest", "--rsi-period", "2", "--stocks", "2", "--bars", "300", "--no-store", cwd=tmp_path),
                   "10..21 for the adaptive strategy", "--strategy fixed")
    one_line_error(cli("backtest", "--strategy", "fixed", "--rsi-period", "1", "--stocks", "2", "--bars", "300", "--no-store",
                       cwd=tmp_path), "2..252 for the fixed strategy")


def test_fixed_rsi2_signals_are_rsi2_and_match_bar_by_bar() -> None:
    """The engine reads RSI(2) (not a row of the 10..21 stack) and the paper-trading object takes the same decisions."""
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.data.features import wilder_rsi
    from adaptrade.data.synthetic import generate
    from adaptrade.strategy import AdaptiveRSIStrategy
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["R2A", "R2B"], 600, seed=7)
    cfg = StrategyConfig(kind="fixed", rsi_period=2, buy=10, sell=90)
    out = run_backtest(bars, cfg)
    for i, sym in enumerate(bars.symbols):
        rsi = wilder_rsi(bars.close[i], 2)
        buys = np.flatnonzero(out.signal[i] == 1)
        assert buys.size > 3 and (rsi[buys] < 10).all()  # every buy signal had RSI(2) below 10
        strat = AdaptiveRSIStrategy(sym, cfg)
        live = [strat.on_bar(bars.dates[t], bars.open[i, t], bars.close[i, t]).signal for t in range(bars.n_bars)]
        np.testing.assert_array_equal(np.array(live[:-1]), out.signal[i, :-1])
