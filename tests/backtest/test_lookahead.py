"""No look-ahead: changing any bar after t never changes a decision or fill at or before t."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptrade.backtest.engine import EngineOutput, run_backtest
from adaptrade.backtest.kernel import T_ENTRY_T, T_EXIT_T
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.strategy.params import StrategyConfig

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "adaptrade" / "resources" / "sample"


def _real_bars() -> Bars:
    files = sorted(SAMPLE.glob("*.csv.gz"))
    frames = {}
    for f in files:
        sym = f.name.split(".")[0]
        if sym in ("SPY", "GSPC"):
            continue
        frames[sym] = pd.read_csv(f, parse_dates=["date"]).set_index("date")
        if len(frames) == 3:
            break
    if not frames:
        pytest.skip("shipped sample not present yet")
    return Bars.from_frames(frames).adjusted()


SYNTH = generate(["AAA", "BBB", "CCC"], 600, seed=7)
CONFIGS = [
    StrategyConfig(),
    StrategyConfig(fill="close"),
    StrategyConfig(kind="fixed", whole_shares=True, commission_bps=0, slippage_bps=0),
]


def _perturb(bars: Bars, t: int, rng: np.random.Generator) -> Bars:
    """Every bar after t replaced by a different, still consistent bar."""
    o, h, l, c = (x.copy() for x in (bars.open, bars.high, bars.low, bars.close))
    n_future = c.shape[1] - t - 1
    shock = np.exp(rng.normal(0.0, 0.08, size=(c.shape[0], n_future)))
    for arr in (o, h, l, c):
        arr[:, t + 1 :] *= shock
    h[:, t + 1 :] *= 1.02
    l[:, t + 1 :] *= 0.98
    return Bars(dates=bars.dates, symbols=bars.symbols, open=o, high=h, low=l, close=c, volume=bars.volume, valid=bars.valid)


def _trades_up_to(out: EngineOutput, t: int) -> list[tuple[float, ...]]:
    """Trades entered at or before t, with exits at or before t (an exit after t is 'not yet')."""
    rows = []
    for r in out.trades:
        if r[T_ENTRY_T] <= t:
            exited = 0 <= r[T_EXIT_T] <= t
            rows.append((r[0], r[T_ENTRY_T], r[3], r[5]) + ((r[T_EXIT_T], r[4], r[6]) if exited else ()))
    return rows


def _assert_same_past(a: EngineOutput, b: EngineOutput, t: int) -> None:
    np.testing.assert_array_equal(a.signal[:, : t + 1], b.signal[:, : t + 1])
    np.testing.assert_array_equal(a.in_market[:, : t + 1], b.in_market[:, : t + 1])
    np.testing.assert_array_equal(a.equity[:, : t + 1], b.equity[:, : t + 1])
    assert _trades_up_to(a, t) == _trades_up_to(b, t)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frac=st.floats(0.05, 0.95), cfg=st.sampled_from(CONFIGS), seed=st.integers(0, 10_000))
def test_future_bars_do_not_change_past_decisions_synthetic(frac: float, cfg: StrategyConfig, seed: int) -> None:
    t = int(frac * (SYNTH.n_bars - 2))
    base = run_backtest(SYNTH, cfg)
    other = run_backtest(_perturb(SYNTH, t, np.random.default_rng(seed)), cfg)
    _assert_same_past(base, other, t)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frac=st.floats(0.05, 0.95), cfg=st.sampled_from(CONFIGS), seed=st.integers(0, 10_000))
def test_future_bars_do_not_change_past_decisions_real(frac: float, cfg: StrategyConfig, seed: int) -> None:
    bars = _real_bars()
    t = int(frac * (bars.n_bars - 2))
    base = run_backtest(bars, cfg)
    other = run_backtest(_perturb(bars, t, np.random.default_rng(seed)), cfg)
    _assert_same_past(base, other, t)


def test_perturbation_does_change_the_future() -> None:
    """Guard against a vacuous test: the perturbed future really trades differently."""
    cfg = CONFIGS[0]
    t = SYNTH.n_bars // 3
    base = run_backtest(SYNTH, cfg)
    other = run_backtest(_perturb(SYNTH, t, np.random.default_rng(1)), cfg)
    assert not np.array_equal(base.signal[:, t + 1 :], other.signal[:, t + 1 :])


def test_signal_on_last_bar_is_not_filled_and_open_trade_is_marked() -> None:
    bars = SYNTH
    for cfg in (StrategyConfig(), StrategyConfig(fill="close")):
        out = run_backtest(bars, cfg)
        last = bars.n_bars - 1
        # no fill happens on the last bar as a result of its own signal
        for i in range(bars.n_symbols):
            if out.signal[i, last] != 0:
                assert out.in_market[i, last] == out.in_market[i, last - 1] or cfg.fill == "next_open"
        open_rows = out.trades[out.trades[:, T_EXIT_T] < 0]
        assert len(open_rows) <= bars.n_symbols
        for r in open_rows:
            i = int(r[0])
            assert out.in_market[i, last]


def test_a_stock_whose_data_ends_early_decides_as_if_it_did_not_know() -> None:
    """Truncating a stock's data after t changes nothing at or before t (also in close-fill mode)."""
    for cfg in CONFIGS:
        base = run_backtest(SYNTH, cfg)
        signal_bars = np.flatnonzero(base.signal[0, 100:-2] != 0) + 100  # cut exactly on a signal bar
        for t in (int(signal_bars[0]), int(signal_bars[len(signal_bars) // 2]), 480):
            valid = SYNTH.valid.copy()
            valid[:, t + 1 :] = False
            nan = lambda a: np.where(valid, a, np.nan)  # noqa: E731
            cut = Bars(dates=SYNTH.dates, symbols=SYNTH.symbols, open=nan(SYNTH.open), high=nan(SYNTH.high), low=nan(SYNTH.low), close=nan(SYNTH.close), volume=nan(SYNTH.volume), valid=valid)
            other = run_backtest(cut, cfg)
            _assert_same_past(base, other, t)
