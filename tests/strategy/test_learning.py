"""Adaptation follows the documented rules: scripted wins and losses drive each move and bound."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.strategy.kernel import initial_state, learn
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import (
    E_N_CHANGES,
    EVENT_SIZE,
    S_BUY,
    S_EMA_RETURN,
    S_EMA_WIN,
    S_N_TRADES,
    S_PERIOD_IDX,
    S_SELL,
    S_VOL_SCALAR,
)


def _drive(returns: list[float], vols: list[float] | None = None, **cfg: object) -> tuple[np.ndarray, list[np.ndarray]]:
    config = StrategyConfig(**cfg)  # type: ignore[arg-type]
    params = config.to_vector()
    state = initial_state(params)
    events = []
    vols = vols or [0.2] * len(returns)
    for r, v in zip(returns, vols):
        ev = np.zeros(EVENT_SIZE)
        learn(state, params, r, v, ev)
        events.append(ev)
    return state, events


def period(state: np.ndarray) -> int:
    return int(state[S_PERIOD_IDX]) + 10


def test_no_adaptation_before_min_trades() -> None:
    state, events = _drive([0.05] * 4)
    assert period(state) == 14 and state[S_BUY] == 30 and state[S_SELL] == 70
    assert all(ev[E_N_CHANGES] == 0 for ev in events)
    assert state[S_N_TRADES] == 4


def test_winning_streak_speeds_up_and_tightens_each_trade_until_bounds() -> None:
    # every trade +5%: EMA win rate 1.0 (> 70%) and EMA return 5% (> 1%)
    state, events = _drive([0.05] * 30)
    # from the 5th trade on: period -1 per trade (14 -> 10 after 4 moves), thresholds +-1 per trade
    periods = [14, 14, 14, 14, 13, 12, 11, 10, 10]
    buys = [30, 30, 30, 30, 31, 32, 33, 34, 35]
    sells = [70, 70, 70, 70, 69, 68, 67, 66, 65]
    cfg = StrategyConfig()
    params = cfg.to_vector()
    s = initial_state(params)
    for k in range(9):
        learn(s, params, 0.05, 0.2, np.zeros(EVENT_SIZE))
        assert (period(s), s[S_BUY], s[S_SELL]) == (periods[k], buys[k], sells[k]), k
    # bounds hold afterwards
    assert period(state) == 10 and state[S_BUY] == 35 and state[S_SELL] == 65


def test_losing_streak_slows_down_and_loosens_until_bounds() -> None:
    state, _ = _drive([-0.03] * 40)
    assert period(state) == 21
    assert state[S_BUY] == 20 and state[S_SELL] == 80


def test_middle_band_changes_nothing() -> None:
    # past the warm-up with a win rate of 55% and a mean return of +0.2%: inside both dead bands
    params = StrategyConfig().to_vector()
    state = initial_state(params)
    state[S_N_TRADES], state[S_EMA_WIN], state[S_EMA_RETURN] = 10, 0.55, 0.002
    for r in [0.003, -0.001, 0.003, -0.001, 0.003]:
        ev = np.zeros(EVENT_SIZE)
        learn(state, params, r, np.nan, ev)
        assert 0.4 <= state[S_EMA_WIN] <= 0.7 and -0.005 <= state[S_EMA_RETURN] <= 0.01
        assert ev[E_N_CHANGES] == 0
    assert period(state) == 14 and state[S_BUY] == 30 and state[S_SELL] == 70


def test_ema_factor_is_the_documented_one() -> None:
    state, _ = _drive([0.10, 0.0])
    # first sample initialises, then EMA with alpha = 0.2
    assert state[S_EMA_RETURN] == pytest.approx(0.2 * 0.0 + 0.8 * 0.10)
    assert state[S_EMA_WIN] == pytest.approx(0.2 * 0.0 + 0.8 * 1.0)


def test_vol_scalar_tracks_vol_relative_to_its_ema_and_is_clamped() -> None:
    # flat returns so only the volatility rule moves; the 6th trade closes in a 3x-vol regime
    rets = [0.005, -0.002] * 3
    vols = [0.2, 0.2, 0.2, 0.2, 0.2, 0.6]
    state, events = _drive(rets, vols)
    ema_before = 0.2  # the baseline before the 6th observation
    assert state[S_VOL_SCALAR] == pytest.approx(min(0.6 / ema_before, 2.0))
    # a calm regime far below the EMA is clamped at 0.5
    state, _ = _drive(rets + [0.005], vols + [0.01])
    assert state[S_VOL_SCALAR] == 0.5


def test_every_change_is_recorded_with_reason() -> None:
    _, events = _drive([0.05] * 6)
    ev = events[4]  # 5th trade: first adaptation
    n = int(ev[E_N_CHANGES])
    assert n == 3  # period, buy, sell (vol unchanged at constant vol)
    ids = [int(ev[10 + 4 * k]) for k in range(n)]
    reasons = [int(ev[10 + 4 * k + 3]) for k in range(n)]
    assert ids == [0, 1, 2] and reasons == [1, 3, 3]


def test_fixed_mode_never_adapts() -> None:
    state, events = _drive([0.05] * 20 + [-0.05] * 20, kind="fixed")
    assert period(state) == 14 and state[S_BUY] == 30 and state[S_SELL] == 70 and state[S_VOL_SCALAR] == 1.0
    assert all(ev[E_N_CHANGES] == 0 for ev in events)
    assert state[S_N_TRADES] == 40  # still learns its statistics


def test_bad_config_is_refused_with_the_field() -> None:
    from adaptrade.errors import ConfigError

    with pytest.raises(ConfigError, match="RSI period"):
        StrategyConfig(rsi_period=9)
    with pytest.raises(ConfigError) as exc:
        StrategyConfig(buy=40)
    assert exc.value.field == "buy"
    StrategyConfig(kind="fixed", buy=40, sell=60)  # fixed mode allows any ordered thresholds
