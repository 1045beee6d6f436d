"""No look-ahead: changing any bar after t (prices and volumes) never changes a decision or fill at or\nbefore t, on configurations that trade before t; the last bar's signals are recorded, never filled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptrade.backtest.engine import EngineOutput, run_backtest
from adaptrade.backtest.kernel import C_T, T_ENTRY_T, T_EXIT_T
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.strategy.params import StrategyConfig
from tests.helpers import perturb_after
from tests.profiles import examples

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


SYNTH = generate(["AAA", "BBB", "CCC", "DDD", "EEE"], 700, seed=7)
CONFIGS = [
    StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=2),  # trades often and adapts within the run
    StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=2, fill="close"),
    StrategyConfig(kind="fixed", buy=40.0, sell=60.0, whole_shares=True, commission_bps=0, slippage_bps=0),
    StrategyConfig(),
]


def _trades_up_to(out: EngineOutput, t: int) -> list[tuple[float, ...]]:
    """Trades entered at or before t (symbol, entry bar, entry price, shares), with their exit (bar, price,
    P&L, return) when it is at or before t: an exit after t is 'not yet'."""
    rows = []
    for r in out.trades:
        if r[T_ENTRY_T] <= t:
            exited = 0 <= r[T_EXIT_T] <= t
            rows.append((r[0], r[T_ENTRY_T], r[3], r[5]) + ((r[T_EXIT_T], r[4], r[6], r[7]) if exited else ()))
    return rows


def _assert_same_past(a: EngineOutput, b: EngineOutput, t: int) -> None:
    """Signals, positions, equity, trades (entry/exit bar, fill price, shares, P&L) and parameter changes up to t."""
    np.testing.assert_array_equal(a.signal[:, : t + 1], b.signal[:, : t + 1])
    np.testing.assert_array_equal(a.in_market[:, : t + 1], b.in_market[:, : t + 1])
    np.testing.assert_array_equal(a.equity[:, : t + 1], b.equity[:, : t + 1])
    assert _trades_up_to(a, t) == _trades_up_to(b, t)
    np.testing.assert_array_equal(a.changes[a.changes[:, C_T] <= t], b.changes[b.changes[:, C_T] <= t])


def _check(bars: Bars, cfg: StrategyConfig, t: int, seed: int, min_trades: int) -> None:
    base = run_backtest(bars, cfg)
    assert sum(len(r) > 4 for r in _trades_up_to(base, t)) >= min_trades, f"too few trades closed before bar {t}"
    other = run_backtest(perturb_after(bars, t, np.random.default_rng(seed)), cfg)
    _assert_same_past(base, other, t)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frac=st.floats(0.3, 0.97), cfg=st.sampled_from(CONFIGS[:3]), seed=st.integers(0, 10_000))
def test_future_bars_do_not_change_past_decisions_synthetic(frac: float, cfg: StrategyConfig, seed: int) -> None:
    _check(SYNTH, cfg, int(frac * (SYNTH.n_bars - 2)), seed, min_trades=3)


@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=["adaptive", "close_fill", "fixed"])
def test_cut_on_a_signal_bar_keeps_that_signal_and_its_fill_out_of_the_past(cfg: StrategyConfig) -> None:
    """Cut exactly on bars where a signal fires: its fill (next open, or this close) must not depend on later bars."""
    base = run_backtest(SYNTH, cfg)
    sig_t = np.flatnonzero((base.signal != 0).any(axis=0))
    sig_t = sig_t[(sig_t > 150) & (sig_t < SYNTH.n_bars - 2)]
    for j, t in enumerate(sig_t[:: max(1, len(sig_t) // 6)]):
        _check(SYNTH, cfg, int(t), j, min_trades=1)


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frac=st.floats(0.3, 0.95), cfg=st.sampled_from(CONFIGS), seed=st.integers(0, 10_000))
def test_future_bars_do_not_change_past_decisions_real(frac: float, cfg: StrategyConfig, seed: int) -> None:
    bars = _real_bars()
    _check(bars, cfg, int(frac * (bars.n_bars - 2)), seed, min_trades=2)


def test_perturbation_does_change_the_future() -> None:
    """Guard against a vacuous test: the perturbed future really trades differently."""
    cfg = CONFIGS[0]
    t = SYNTH.n_bars // 3
    base = run_backtest(SYNTH, cfg)
    other = run_backtest(perturb_after(SYNTH, t, np.random.default_rng(1)), cfg)
    assert not np.array_equal(base.signal[:, t + 1 :], other.signal[:, t + 1 :])


def _ending_on_signals(bars: Bars, cfg: StrategyConfig) -> tuple[Bars, int, int, EngineOutput]:
    """Two-stock bars whose last bar carries a buy signal (stock 0, flat) and a sell signal (stock 1, holding).

    Each stock's history is its synthetic prefix up to a bar where it signals, right-aligned on one calendar
    (the shorter one starts later: leading bars invalid). Returns (bars, buy bar, sell bar, full run)."""
    full = run_backtest(bars, cfg)
    buy_t = int(np.flatnonzero(full.signal[0, 100:] > 0)[0]) + 100
    sell_t = int(np.flatnonzero(full.signal[1, 100:] < 0)[0]) + 100
    n = max(buy_t, sell_t) + 1
    arrs = {k: np.full((2, n), np.nan) for k in ("open", "high", "low", "close", "volume")}
    valid = np.zeros((2, n), dtype=bool)
    for row, t in enumerate((buy_t, sell_t)):
        for k in arrs:
            arrs[k][row, n - t - 1 :] = getattr(bars, k)[row, : t + 1]
        valid[row, n - t - 1 :] = True
    cut = Bars(dates=bars.dates[:n], symbols=(bars.symbols[0], bars.symbols[1]), valid=valid, **arrs)
    return cut, buy_t, sell_t, full


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_last_bar_buy_and_sell_signals_are_recorded_but_never_filled(fill: str) -> None:
    cfg = StrategyConfig(fill=fill)  # type: ignore[arg-type]
    bars, buy_t, sell_t, full = _ending_on_signals(SYNTH, cfg)
    out = run_backtest(bars, cfg)
    last = bars.n_bars - 1
    assert out.signal[0, last] == 1 and out.signal[1, last] == -1  # the last bar carries a buy and a sell signal
    lag = 1 if fill == "next_open" else 0
    # with one more bar both signals do fill: the buy opens a position, the sell closes one
    assert full.in_market[0, buy_t + lag] and not full.in_market[0, buy_t - 1]
    assert full.in_market[1, sell_t - 1] and not full.in_market[1, sell_t + lag]
    # before the last bar the seller's account is exactly the full run's (its bars moved right by `shift`)
    shift = last - sell_t
    np.testing.assert_array_equal(out.equity[1, shift:last], full.equity[1, :sell_t])
    # the buyer stays flat: no position, no open trade, equity unchanged over the last bar
    assert not out.in_market[0, last]
    assert not ((out.trades[:, 0] == 0) & (out.trades[:, T_EXIT_T] < 0)).any()
    assert out.equity[0, last] == out.equity[0, last - 1]
    # the seller still holds: exactly one open trade, the full run's entry, marked at the last close
    assert out.in_market[1, last]
    open_rows = out.trades[(out.trades[:, 0] == 1) & (out.trades[:, T_EXIT_T] < 0)]
    assert len(open_rows) == 1
    r = open_rows[0]
    held = full.trades[(full.trades[:, 0] == 1) & (full.trades[:, T_EXIT_T] == sell_t + lag)][0]
    e = int(r[T_ENTRY_T])
    assert e == held[T_ENTRY_T] + shift and r[3] == held[3] and r[5] == held[5] and np.isnan(r[4])
    shares, mark = r[5], bars.close[1, last]
    cash = out.equity[1, e] - shares * bars.close[1, e]  # all-in: cash left after the entry fill
    cost = out.equity[1, e - 1] - cash  # flat the bar before the entry: what the shares cost, costs included
    assert out.equity[1, last] == pytest.approx(cash + shares * mark, rel=1e-12)
    assert r[6] == pytest.approx(shares * mark - cost, rel=1e-9)
    assert r[7] == pytest.approx(shares * mark / cost - 1.0, rel=1e-9)
    # portfolio mode agrees: the last bar's signals are recorded, no order is created on it
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.layout import O_CREATED_T
    from adaptrade.risk.limits import RiskLimits

    po = run_portfolio_backtest(bars, cfg, RiskLimits.off(cfg.initial_cash))
    assert po.signal[0, last] == 1 and po.signal[1, last] == -1
    assert not (po.orders[:, O_CREATED_T] == last).any()


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
