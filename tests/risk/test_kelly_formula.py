"""Issue 10 section 4: Kelly for trades that win W and lose L (fractions of the stake) is p/L - q/W."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import RULE_KELLY_NONPOS, RULE_KELLY_WARMUP, kelly_weight


def _growth(f: float, p: float, w: float, l: float) -> float:
    return p * math.log(1 + f * w) + (1 - p) * math.log(1 - f * l)


def test_kelly_is_p_over_l_minus_q_over_w() -> None:
    risk = RiskLimits(kelly_fraction=0.25, max_position=1.0, kelly_min_trades=5).to_vector()
    w, rule = kelly_weight(0.6, 0.10, 0.05, 10.0, risk)
    assert rule == 0 and w == pytest.approx(0.25 * (0.6 / 0.05 - 0.4 / 0.10))  # 2.0, not 0.25 * (0.6 - 0.4 / 2)


def test_full_kelly_maximises_log_growth_for_small_moves() -> None:
    p, W, L = 0.55, 0.02, 0.015
    risk = RiskLimits(kelly_fraction=1.0, max_position=1.0, kelly_min_trades=1).to_vector()
    k, _ = kelly_weight(p, W, L, 10.0, risk)
    grid = np.linspace(0.0, 2 * k, 4001)
    best = grid[np.argmax([_growth(f, p, W, L) for f in grid])]
    assert abs(best - k) / k < 1e-3  # p/L - q/W maximises p ln(1+fW) + q ln(1-fL) exactly


def test_warmup_and_no_edge() -> None:
    risk = RiskLimits(kelly_fraction=0.25, kelly_min_trades=5).to_vector()
    assert kelly_weight(0.6, 0.1, 0.05, 4.0, risk) == (0.0, RULE_KELLY_WARMUP)
    assert kelly_weight(0.2, 0.01, 0.05, 10.0, risk) == (0.0, RULE_KELLY_NONPOS)
