"""Walk-forward: windows tile the data, start states carry only what was learned, and no
out-of-sample bar ever changes an in-sample decision (property test)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.backtest.engine import run_backtest
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate, synthetic_benchmark
from adaptrade.errors import ConfigError
from adaptrade.research.walkforward import (
    LEARNED_SLOTS,
    carried_states,
    frozen_states,
    summarize,
    walk_forward,
    windows,
)
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import (
    S_BUY,
    S_CASH,
    S_PENDING,
    S_PERIOD_IDX,
    S_SELL,
    S_SHARES,
    S_VOL_SCALAR,
)

SYMS = ["AAA", "BBB", "CCC", "DDD"]
BARS = generate(SYMS, 700, seed=5)
CFG = StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=2)  # trades often, so it learns within a window
CANDS = [CFG, replace(CFG, rsi_period=10, kind="fixed"), replace(CFG, rsi_period=21, buy=25.0, sell=75.0)]


def test_windows_tile_the_out_of_sample_span() -> None:
    ws = windows(1000, 300, 200)
    assert [(w.is_start, w.is_end, w.oos_end) for w in ws] == [(0, 300, 500), (200, 500, 700), (400, 700, 900), (600, 900, 1000)]
    for a, b in zip(ws, ws[1:]):
        assert a.oos_end == b.is_end  # out-of-sample windows are consecutive and disjoint
    with pytest.raises(ConfigError):
        windows(100, 300, 50)
    with pytest.raises(ConfigError):
        walk_forward(BARS, CFG, 200, 100, mode="sideways")  # type: ignore[arg-type]


def test_carried_and_frozen_states() -> None:
    ins = run_backtest(BARS, CFG)
    final = ins.final_states
    assert final is not None
    carry = carried_states(final, CFG)
    idx = list(LEARNED_SLOTS)
    np.testing.assert_array_equal(carry[:, idx], final[:, idx])
    assert (carry[:, S_SHARES] == 0).all() and (carry[:, S_PENDING] == 0).all()
    assert (carry[:, S_CASH] == CFG.initial_cash).all()
    frozen, fixed = frozen_states(final, CFG)
    assert fixed.kind == "fixed" and (frozen[:, S_VOL_SCALAR] == 1.0).all()
    np.testing.assert_array_equal(frozen[:, S_PERIOD_IDX], final[:, S_PERIOD_IDX])
    assert ((frozen[:, S_BUY] >= 20) & (frozen[:, S_BUY] <= 35) & (frozen[:, S_SELL] >= 65) & (frozen[:, S_SELL] <= 80)).all()
    assert (frozen[:, S_SHARES] == 0).all()


def test_frozen_mode_never_adapts_out_of_sample() -> None:
    runs = walk_forward(BARS, CFG, 250, 150, mode="frozen")
    assert runs and all(len(r.out_of_sample.changes) == 0 for r in runs)
    assert any(len(r.in_sample.changes) > 0 for r in runs)  # it did learn in-sample


def _perturb(bars: Bars, cut: int, seed: int, scale: float) -> Bars:
    """Bars with every price from bar `cut` on moved by a random walk (valid OHLC kept) and every volume rescaled."""
    rng = np.random.default_rng(seed)
    f = np.ones(bars.close.shape)
    f[:, cut:] = np.exp(np.cumsum(rng.normal(0, scale, (bars.n_symbols, bars.n_bars - cut)), axis=1))
    v = np.ones(bars.close.shape)
    v[:, cut:] = np.exp(rng.normal(0, 0.7, (bars.n_symbols, bars.n_bars - cut)))
    return replace(bars, open=bars.open * f, high=bars.high * f, low=bars.low * f, close=bars.close * f,
                   volume=bars.volume * v, _index={})


@settings(max_examples=20, deadline=None)
@given(k=st.integers(0, 3), seed=st.integers(0, 10_000), scale=st.floats(0.005, 0.1), mode=st.sampled_from(["carry", "frozen", "reset", "select"]))
def test_out_of_sample_bars_change_no_in_sample_decision(k: int, seed: int, scale: float, mode: str) -> None:
    base = walk_forward(BARS, CFG, 250, 100, mode, candidates=CANDS)  # type: ignore[arg-type]
    k = min(k, len(base) - 1)
    cut = base[k].window.is_end  # first out-of-sample bar of window k
    moved = walk_forward(_perturb(BARS, cut, seed, scale), CFG, 250, 100, mode, candidates=CANDS)  # type: ignore[arg-type]
    for a, b in zip(base[: k + 1], moved[: k + 1]):  # every in-sample window that ends at or before the cut
        assert a.choice == b.choice  # `select` picks the same candidate
        for name in ("signal", "equity", "in_market", "trades", "changes", "final_states"):
            np.testing.assert_array_equal(getattr(a.in_sample, name), getattr(b.in_sample, name), err_msg=f"{name} of window {a.window.index}")
    for a, b in zip(base[:k], moved[:k]):  # earlier out-of-sample windows end before the cut too
        np.testing.assert_array_equal(a.out_of_sample.signal, b.out_of_sample.signal)
    assert not np.array_equal(base[k].out_of_sample.bars.close, moved[k].out_of_sample.bars.close)  # the change was real


def test_summary_separates_in_and_out_of_sample() -> None:
    bench = synthetic_benchmark(BARS.dates, 5)
    runs = walk_forward(BARS, CFG, 250, 150, "carry")
    s = summarize(runs, BARS, bench, "carry")
    assert s["mode"] == "carry" and len(s["windows"]) == len(runs)  # type: ignore[arg-type]
    row = s["windows"][0]  # type: ignore[index]
    assert {"is_mean_return", "oos_mean_return", "is_start", "oos_start"} <= set(row)
    oos = s["out_of_sample"]
    assert oos["start"] == str(BARS.dates[250]) and oos["stocks"] == 4  # type: ignore[index]
    assert "verdict" in oos and isinstance(oos["verdict"]["verdict"], str)  # type: ignore[index]


def test_select_mode_picks_the_best_in_sample_candidate() -> None:
    from adaptrade.backtest.engine import Features
    from adaptrade.research.stats import moments
    from adaptrade.research.verdict import excess_panel, portfolio_series
    from adaptrade.research.walkforward import _slice, candidate_configs

    feats = Features.compute(BARS)
    runs = walk_forward(BARS, CFG, 250, 150, "select", feats, candidates=CANDS)
    for r in runs:
        ib, f = _slice(BARS, feats, r.window.is_start, r.window.is_end)
        srs = [moments(portfolio_series(excess_panel(run_backtest(ib, c, f).equity, ib.close, ib.valid))).sharpe for c in CANDS]
        assert r.in_sample.config == CANDS[int(np.nanargmax(srs))] and r.choice
    with pytest.raises(ConfigError):
        walk_forward(BARS, CFG, 250, 150, "select")
    cands = candidate_configs(CFG, 10, 0)
    assert 0 < len(cands) <= 10 and all(c.commission_bps == CFG.commission_bps for c in cands)


def _trend_break(bars: Bars) -> Bars:
    """The synthetic bars with a different regime in every other 150-bar block (drift up, then down), so each
    window's in-sample and out-of-sample results differ."""
    k = np.arange(bars.n_bars)
    drift = np.where((k // 150) % 2 == 1, 0.004, -0.002)
    f = np.exp(np.cumsum(drift))[None, :]
    return replace(bars, open=bars.open * f, high=bars.high * f, low=bars.low * f, close=bars.close * f, _index={})


def _separate(bars: Bars, cfg: StrategyConfig, a: int, b: int, states: np.ndarray | None):
    """Bars [a, b) run on their own: features computed from the data up to b only (past-only), then cut to [a, b)."""
    from adaptrade.backtest.engine import Features

    pre = bars.slice_dates(None, bars.dates[b - 1])
    f = Features.compute(pre)
    part = bars.slice_dates(bars.dates[a], bars.dates[b - 1])
    return run_backtest(part, cfg, Features(rsi=np.ascontiguousarray(f.rsi[:, :, a:b]), vol=np.ascontiguousarray(f.vol[:, a:b])), states)


def test_each_window_out_of_sample_equals_a_separate_run_from_the_carried_state() -> None:
    bars = _trend_break(BARS)
    bench = synthetic_benchmark(bars.dates, 5)
    runs = walk_forward(bars, CFG, 250, 150, "carry")
    s = summarize(runs, bars, bench, "carry")
    cash = CFG.initial_cash
    assert len(runs) >= 3
    level = np.ones(bars.n_symbols)
    for r, row in zip(runs, s["windows"]):  # type: ignore[arg-type]
        w = r.window
        ins = _separate(bars, CFG, w.is_start, w.is_end, None)
        oos = _separate(bars, CFG, w.is_end, w.oos_end, carried_states(ins.final_states, CFG))
        assert len(oos.trades) > 0 and len(ins.trades) > 0
        for name in ("equity", "signal", "in_market", "trades", "changes"):
            np.testing.assert_array_equal(getattr(r.out_of_sample, name), getattr(oos, name), err_msg=f"{name}, window {w.index}")
        # the window's out-of-sample figures, from the separate run's own numbers over the OOS dates only
        ret = oos.equity[:, -1] / cash - 1.0
        c = bars.close[:, w.is_end : w.oos_end]
        assert row["oos_mean_return"] == pytest.approx(ret.mean(), rel=1e-12)
        assert row["oos_mean_buy_hold"] == pytest.approx((c[:, -1] / c[:, 0] - 1.0).mean(), rel=1e-12)
        assert row["oos_mean_benchmark"] == pytest.approx(bench[w.oos_end - 1] / bench[w.is_end] - 1.0, rel=1e-12)
        assert row["oos_beat_buy_hold_share"] == pytest.approx(np.mean(ret > c[:, -1] / c[:, 0] - 1.0))
        is_ret = ins.equity[:, -1] / cash - 1.0
        assert row["is_mean_return"] == pytest.approx(is_ret.mean(), rel=1e-12)
        assert abs(row["is_mean_return"] - row["oos_mean_return"]) > 1e-3  # the case separates IS from OOS
        assert abs(row["is_mean_buy_hold"] - row["oos_mean_buy_hold"]) > 1e-3
        # the next window starts from this one's account with any open position sold at the last close,
        # after slippage and commission (the stitching charges exit costs)
        from adaptrade.strategy.state import S_SHARES

        shares = oos.final_states[:, S_SHARES]
        gross = shares * bars.close[:, w.oos_end - 1]
        exit_cost = gross - gross * (1.0 - CFG.slippage_bps / 1e4) * (1.0 - CFG.commission_bps / 1e4)
        level *= (oos.equity[:, -1] - exit_cost) / cash
    # stitched totals: the windows' out-of-sample returns compounded; no in-sample bar enters them
    tot = s["out_of_sample"]
    first = runs[0].window.is_end
    assert tot["start"] == str(bars.dates[first])
    assert tot["mean_return"] == pytest.approx((level - 1.0).mean(), rel=1e-9)
    c = bars.close[:, first : runs[-1].window.oos_end]
    assert tot["mean_buy_hold"] == pytest.approx((c[:, -1] / c[:, 0] - 1.0).mean(), rel=1e-12)
    assert tot["mean_benchmark"] == pytest.approx(bench[runs[-1].window.oos_end - 1] / bench[first] - 1.0, rel=1e-12)

