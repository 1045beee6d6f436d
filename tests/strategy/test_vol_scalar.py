"""Issue 10 section 4: the volatility scalar is current vol over the baseline as it stood before this
observation (then the baseline is updated)."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.strategy.kernel import initial_state, learn
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import EVENT_SIZE, S_EMA_VOL, S_VOL_SCALAR


def test_four_trades_at_20pct_then_one_at_40pct_gives_2() -> None:
    params = StrategyConfig(min_trades_to_adapt=5, learning_alpha=0.2).to_vector()
    state = initial_state(params)
    for v in (0.2, 0.2, 0.2, 0.2, 0.4):
        learn(state, params, 0.001, v, np.zeros(EVENT_SIZE))  # flat return: only the vol rule moves
    assert state[S_VOL_SCALAR] == pytest.approx(2.0)  # 0.4 / 0.2, not 0.4 / 0.24 = 1.667
    assert state[S_EMA_VOL] == pytest.approx(0.2 * 0.4 + 0.8 * 0.2)  # the baseline is updated afterwards


def test_a_ratio_inside_the_clamp_is_exact() -> None:
    params = StrategyConfig(min_trades_to_adapt=5, learning_alpha=0.2).to_vector()
    state = initial_state(params)
    for v in (0.2, 0.2, 0.2, 0.2, 0.3):
        learn(state, params, 0.001, v, np.zeros(EVENT_SIZE))
    assert state[S_VOL_SCALAR] == pytest.approx(1.5)
