"""Unit tests of the compiled risk rules: Kelly sizing, caps, stops, correlation scaling, breaker."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptrade.errors import ConfigError
from adaptrade.risk.limits import RULES, RiskLimits
from adaptrade.risk.rules import (
    ACC_BREAKER,
    ACC_PEAK,
    ACCOUNT_SIZE,
    RULE_CORR_REFUSED,
    RULE_CORR_SCALED,
    RULE_KELLY_NONPOS,
    RULE_KELLY_WARMUP,
    RULE_RESET,
    RULE_STOP_PCT,
    RULE_STOP_VOL,
    RULE_TRIPPED,
    avg_correlation,
    breaker_update,
    correlation_scale,
    kelly_weight,
    stop_rule,
)


def test_kelly_is_zero_until_enough_trades_then_fractional() -> None:
    r = RiskLimits(kelly_fraction=0.25, kelly_min_trades=5).to_vector()
    assert kelly_weight(0.6, 0.03, 0.03, 4, r) == (0.0, RULE_KELLY_WARMUP)
    w, rule = kelly_weight(0.6, 0.03, 0.03, 5, r)  # K = p/L - q/W = 0.6/0.03 - 0.4/0.03
    assert rule == 0 and w == pytest.approx(0.25 * 0.2 / 0.03)
    w, _ = kelly_weight(0.5, 0.04, 0.02, 9, r)  # K = 0.5/0.02 - 0.5/0.04 = 12.5
    assert w == pytest.approx(0.25 * 12.5)
    assert kelly_weight(0.4, 0.02, 0.03, 9, r) == (0.0, RULE_KELLY_NONPOS)
    assert kelly_weight(0.8, 0.02, math.nan, 9, r)[0] == pytest.approx(0.25)  # no loss seen yet: K = 1


def test_without_kelly_entries_are_sized_at_the_cap() -> None:
    r = RiskLimits(kelly_fraction=0.0, max_position=0.07).to_vector()
    assert kelly_weight(math.nan, math.nan, math.nan, 0, r) == (pytest.approx(0.07), 0)


def test_stops() -> None:
    r = RiskLimits(stop_loss_pct=0.1, stop_loss_vol_k=2.0).to_vector()
    assert stop_rule(89.0, 100.0, 0.2, r) == RULE_STOP_PCT
    daily = 0.2 / math.sqrt(252)
    assert stop_rule(100 * (1 - 2 * daily) - 0.01, 100.0, 0.2, r) == RULE_STOP_VOL
    assert stop_rule(99.0, 100.0, 0.2, r) == 0
    assert stop_rule(50.0, 100.0, 0.2, RiskLimits.off().to_vector()) == 0


def test_correlation_scaling_and_refusal() -> None:
    r = RiskLimits(corr_limit=0.6).to_vector()
    assert correlation_scale(0.5, r) == (1.0, 0)
    s, rule = correlation_scale(0.8, r)
    assert rule == RULE_CORR_SCALED and s == pytest.approx(0.2 / 0.4)
    assert correlation_scale(1.0, r) == (0.0, RULE_CORR_REFUSED)
    assert correlation_scale(0.7, RiskLimits(corr_limit=0.6, corr_refuse=True).to_vector()) == (0.0, RULE_CORR_REFUSED)


def test_avg_correlation_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    ret = rng.normal(size=(3, 100))
    ret[1] = 0.8 * ret[0] + 0.2 * ret[1]
    held = np.array([1, 2], dtype=np.int64)
    got = avg_correlation(ret, 0, held, 2, 99, 60)
    want = np.mean([np.corrcoef(ret[0, 40:], ret[j, 40:])[0, 1] for j in (1, 2)])
    assert got == pytest.approx(want, rel=1e-10)


def test_breaker_trips_and_resets_after_cooldown() -> None:
    r = RiskLimits(max_drawdown=0.2, breaker_cooldown=3).to_vector()
    acct = np.zeros(ACCOUNT_SIZE)
    acct[ACC_PEAK] = 100.0
    assert breaker_update(acct, 110.0, 0, r)[0] == 0 and acct[ACC_PEAK] == 110.0
    rule, dd = breaker_update(acct, 87.0, 1, r)
    assert rule == RULE_TRIPPED and dd == pytest.approx(1 - 87 / 110) and acct[ACC_BREAKER] == 1
    assert breaker_update(acct, 80.0, 3, r)[0] == 0 and acct[ACC_BREAKER] == 1
    assert breaker_update(acct, 80.0, 4, r)[0] == RULE_RESET and acct[ACC_BREAKER] == 0 and acct[ACC_PEAK] == 80.0


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_gross"):
        RiskLimits(max_gross=1.5)
    assert RULES[RULE_STOP_VOL] == "stop_vol"


def test_held_correlation_matrix_agrees_with_the_compiled_average() -> None:
    from adaptrade.risk.correlation import held_correlation

    rng = np.random.default_rng(1)
    ret = rng.normal(size=(4, 120))
    ret[2] = 0.5 * ret[0] + 0.5 * ret[2]
    m = held_correlation(ret, ("A", "B", "C", "D"), np.array([1, 1, 1, 0]), 119, 60)
    assert list(m.columns) == ["A", "B", "C"] and np.allclose(np.diag(m), 1.0)
    avg = avg_correlation(ret, 0, np.array([1, 2], dtype=np.int64), 2, 119, 60)
    assert avg == pytest.approx((m.loc["A", "B"] + m.loc["A", "C"]) / 2, rel=1e-9)
