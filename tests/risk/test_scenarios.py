"""Scripted scenarios: stop-losses, the drawdown breaker and the correlation rule fire when they
should, on synthetic bars with a scripted crash and on real prices (2008, dot-com bust)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptrade.backtest.kernel import T_EXIT_T
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.layout import (
    F_SIDE,
    F_T,
    O_CREATED_T,
    O_SIDE,
    O_SYM,
    RE_RULE,
    RE_SYM,
    RE_T,
    PT_EXIT_REASON,
    PT_PAPER,
)
from adaptrade.portfolio.results import build_portfolio_result
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import (
    RULE_BREAKER,
    RULE_CORR_REFUSED,
    RULE_RESET,
    RULE_STOP_PCT,
    RULE_STOP_VOL,
    RULE_TRIPPED,
)

CFG_LIMITS = {"kelly_fraction": 0.0, "corr_limit": 2.0}  # size every entry at max_position; no correlation rule


def _scaled_after(bars: Bars, t0: int, factor: float, rows: slice = slice(None)) -> Bars:
    """The same bars with every price of `rows` multiplied by `factor` from bar t0 on (a gap)."""
    arrs = {k: getattr(bars, k).copy() for k in ("open", "high", "low", "close")}
    for a in arrs.values():
        a[rows, t0:] *= factor
    return Bars(dates=bars.dates, symbols=bars.symbols, volume=bars.volume, valid=bars.valid, **arrs)


def _first_buy_fill(out, after: int = 60) -> tuple[int, int]:
    """(stock, bar) of the first entry fill after bar `after` (once the 20-day volatility exists)."""
    f = out.fills[(out.fills[:, F_SIDE] > 0) & (out.fills[:, F_T] > after)]
    k = int(np.argmin(f[:, F_T]))
    return int(out.orders[int(f[k, 0]), O_SYM]), int(f[k, F_T])


def test_fixed_stop_fires_after_a_scripted_gap_down() -> None:
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB"], 700, seed=4)
    lim = RiskLimits(stop_loss_pct=0.08, stop_loss_vol_k=0.0, **CFG_LIMITS)
    sym, t_fill = _first_buy_fill(run_portfolio_backtest(bars, StrategyConfig(), lim))
    crashed = _scaled_after(bars, t_fill + 1, 0.8, slice(sym, sym + 1))
    out = run_portfolio_backtest(crashed, StrategyConfig(), lim)
    ev = out.events[(out.events[:, RE_RULE] == RULE_STOP_PCT) & (out.events[:, RE_SYM] == sym)]
    assert (ev[:, RE_T] == t_fill + 1).any(), "the stop is checked on the first close below entry x 0.92"
    exits = out.trades[(out.trades[:, 0] == sym) & (out.trades[:, PT_EXIT_REASON] == 1.0)]
    assert (exits[:, T_EXIT_T] == t_fill + 2).any(), "exit fills at the next bar's open"
    pr = build_portfolio_result(out, None, "none")
    assert "stop_pct" in set(pr.trades_all["exit_reason"]) and "stop_pct" in set(pr.orders["reason"])


def test_volatility_stop_fires_on_a_gap_of_several_daily_vols() -> None:
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB"], 700, seed=4)
    lim = RiskLimits(stop_loss_pct=0.0, stop_loss_vol_k=3.0, **CFG_LIMITS)
    base = run_portfolio_backtest(bars, StrategyConfig(), lim)
    sym, t_fill = _first_buy_fill(base)
    assert not ((base.events[:, RE_RULE] == RULE_STOP_VOL) & (base.events[:, RE_T] == t_fill + 1)).any()
    out = run_portfolio_backtest(_scaled_after(bars, t_fill + 1, 0.85, slice(sym, sym + 1)), StrategyConfig(), lim)
    ev = out.events[(out.events[:, RE_RULE] == RULE_STOP_VOL) & (out.events[:, RE_SYM] == sym)]
    assert (ev[:, RE_T] == t_fill + 1).any()


def test_drawdown_breaker_trips_blocks_entries_and_resets() -> None:
    from adaptrade.strategy.params import StrategyConfig

    bars = generate([f"S{i}" for i in range(8)], 900, seed=9)
    lim = RiskLimits(max_position=0.3, max_drawdown=0.15, breaker_cooldown=30, stop_loss_pct=0.0, stop_loss_vol_k=0.0, **CFG_LIMITS)
    base = run_portfolio_backtest(bars, StrategyConfig(), lim)
    t_crash = int(np.argmax(base.curves[2] > 0.55)) + 1  # first close with > 55% invested
    out = run_portfolio_backtest(_scaled_after(bars, t_crash, 0.6), StrategyConfig(), lim)
    ev = out.events
    trip = ev[(ev[:, RE_RULE] == RULE_TRIPPED)]
    assert len(trip) and trip[0, RE_T] == t_crash and trip[0, RE_SYM] == -1
    t_trip = int(trip[0, RE_T])
    reset = ev[(ev[:, RE_RULE] == RULE_RESET) & (ev[:, RE_T] > t_trip)]
    assert len(reset) and reset[0, RE_T] == t_trip + lim.breaker_cooldown
    t_reset = int(reset[0, RE_T])
    new_buys = out.orders[(out.orders[:, O_SIDE] > 0) & (out.orders[:, O_CREATED_T] >= t_trip) & (out.orders[:, O_CREATED_T] < t_reset)]
    assert len(new_buys) == 0, "no entries while the breaker is on"
    refused = ev[(ev[:, RE_RULE] == RULE_BREAKER)]
    assert ((refused[:, RE_T] >= t_trip) & (refused[:, RE_T] < t_reset)).all()
    assert out.curves[4][t_trip:t_reset].all() and not out.curves[4][t_reset]
    pr = build_portfolio_result(out, None, "none")
    assert [e["rule"] for e in pr.account_summary()["breaker_events"]][:2] == ["breaker_tripped", "breaker_reset"]


def test_correlated_twin_is_refused() -> None:
    from adaptrade.strategy.params import StrategyConfig

    one = generate(["AAA"], 700, seed=8)
    twin = Bars(dates=one.dates, symbols=("AAA", "TWIN"), **{k: np.vstack([getattr(one, k)] * 2) for k in ("open", "high", "low", "close", "volume", "valid")})
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.3, corr_limit=0.5, corr_refuse=True)
    out = run_portfolio_backtest(twin, StrategyConfig(), lim)
    refused = out.events[out.events[:, RE_RULE] == RULE_CORR_REFUSED]
    assert len(refused) and (refused[:, RE_SYM] == 1).all()
    assert not (out.orders[:, O_SYM] == 1).any(), "the twin never trades while its double is held"
    assert (out.trades[out.trades[:, 0] == 1, PT_PAPER] == 1.0).all(), "the refused strategy keeps learning on paper"


def _real(shared_data_dir, symbols: list[str], start: str, end: str) -> Bars:
    frames = {s: pd.read_csv(shared_data_dir / "ohlcv" / "daily" / f"{s}.csv.gz", parse_dates=["date"]).set_index("date").loc[start:end]
              for s in symbols}
    return Bars.from_frames(frames).adjusted()


def test_breaker_and_stops_fire_on_real_2008(shared_data_dir) -> None:
    from adaptrade.strategy.params import StrategyConfig

    bars = _real(shared_data_dir, ["AAPL", "MSFT", "INTC", "CSCO", "AMZN", "QCOM", "ADBE", "AMGN", "COST", "PEP"], "2007-06-01", "2009-12-31")
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.2, max_drawdown=0.10, stop_loss_pct=0.08, corr_limit=2.0)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    rules = set(out.events[:, RE_RULE].astype(int))
    assert RULE_TRIPPED in rules and RULE_STOP_PCT in rules
    trip_t = int(out.events[out.events[:, RE_RULE] == RULE_TRIPPED][0, RE_T])
    assert 1 - out.curves[0][trip_t] / out.curves[0][: trip_t + 1].max() > 0.10
    assert (out.curves[1] >= -1e-6).all()
