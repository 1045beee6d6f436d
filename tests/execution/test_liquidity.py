"""Liquidity analysis: Corwin-Schultz spread (past-only, plausible on real data), square-root impact,
participation cap and the market-vs-limit rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from adaptrade.execution.liquidity import (
    corwin_schultz_spread,
    estimated_cost_bps,
    impact_fraction,
    participation_cap,
)
from adaptrade.execution.orders import LIMIT, MARKET, choose_order_type


def test_impact_is_square_root_in_size() -> None:
    a = impact_fraction(1_000, 1_000_000, 0.3, 0.1)
    assert impact_fraction(4_000, 1_000_000, 0.3, 0.1) == pytest.approx(2 * a)
    assert a == pytest.approx(0.1 * 0.3 / math.sqrt(252) * math.sqrt(0.001))
    assert impact_fraction(1_000, math.nan, 0.3, 0.1) == 0.0


def test_participation_cap() -> None:
    assert participation_cap(50_000, 0.1) == pytest.approx(5_000)
    assert participation_cap(0.0, 0.1) == 0.0
    assert participation_cap(1.0, math.inf) == math.inf


def test_order_type_rule() -> None:
    assert choose_order_type(True, 500.0, 25.0) == MARKET  # urgent exits cross whatever it costs
    assert choose_order_type(False, 10.0, 25.0) == MARKET
    assert choose_order_type(False, 40.0, 25.0) == LIMIT
    assert estimated_cost_bps(1_000, 1_000_000, 0.3, 0.002, 0.0) == pytest.approx(10.0)


def test_corwin_schultz_is_past_only_and_nonnegative() -> None:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (2, 300)), axis=1))
    h, lo = c * (1 + rng.uniform(0, 0.02, c.shape)), c * (1 - rng.uniform(0, 0.02, c.shape))
    v = np.ones_like(c, dtype=bool)
    s = corwin_schultz_spread(h, lo, v, 20)
    assert np.isnan(s[:, :20]).all() and (s[:, 20:] >= 0).all()
    h2 = h.copy()
    h2[:, 200:] *= 1.5
    np.testing.assert_array_equal(corwin_schultz_spread(h2, lo, v, 20)[:, :200], s[:, :200])


def test_corwin_schultz_by_hand_on_a_small_series() -> None:
    """Corwin & Schultz (2012), eqs. (14), (18)-(20), by hand (40-digit decimals) on four days:
    beta = ln(H_t/L_t)^2 + ln(H_t+1/L_t+1)^2, gamma = ln(max(H_t, H_t+1) / min(L_t, L_t+1))^2,
    alpha = (sqrt(2 beta) - sqrt(beta)) / (3 - 2 sqrt 2) - sqrt(gamma / (3 - 2 sqrt 2)), S = 2 (e^a - 1) / (1 + e^a).
    Days (H, L): (101, 99), (101.2, 99.1), (101.1, 98.9), (110, 108): the pairs give S = 0.016897502777027,
    0.017873777101374 and a negative estimate (the jump to 110) that is set to 0."""
    h = np.array([[101.0, 101.2, 101.1, 110.0]])
    lo = np.array([[99.0, 99.1, 98.9, 108.0]])
    s = corwin_schultz_spread(h, lo, np.ones((1, 4), bool), 2)
    assert np.isnan(s[0, :2]).all()
    assert s[0, 2] == pytest.approx((0.01689750277702704 + 0.01787377710137449) / 2, rel=1e-12)
    assert s[0, 2] == pytest.approx(0.01738563993920077, rel=1e-12)
    assert s[0, 3] == pytest.approx((0.01787377710137449 + 0.0) / 2, rel=1e-12)
    # an invalid day is skipped: the estimate pairs the valid days on either side of it
    v = np.array([[True, True, False, True, True]])
    h5, l5 = np.insert(h, 2, 500.0, axis=1), np.insert(lo, 2, 1.0, axis=1)
    np.testing.assert_allclose(corwin_schultz_spread(h5, l5, v, 2)[0, [3, 4]], s[0, [2, 3]], rtol=1e-12)


def _cs_pandas(high: pd.Series, low: pd.Series, window: int) -> pd.Series:
    """An independent, vectorised Corwin-Schultz: two-day estimates clipped at 0, rolling mean of `window`."""
    k = 3.0 - 2.0 * np.sqrt(2.0)
    beta = np.log(high / low) ** 2 + np.log(high.shift(1) / low.shift(1)) ** 2
    gamma = np.log(pd.concat([high, high.shift(1)], axis=1).max(axis=1, skipna=False)
                   / pd.concat([low, low.shift(1)], axis=1).min(axis=1, skipna=False)) ** 2
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    est = (2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))).clip(lower=0.0)
    return est.rolling(window).mean()


def test_corwin_schultz_on_real_aapl_matches_an_independent_implementation(shared_data_dir) -> None:
    df = pd.read_csv(shared_data_dir / "ohlcv" / "daily" / "AAPL.csv.gz").tail(500).reset_index(drop=True)
    s = corwin_schultz_spread(df[["high"]].T.to_numpy(), df[["low"]].T.to_numpy(), np.ones((1, len(df)), bool))
    ref = _cs_pandas(df["high"], df["low"], 20).to_numpy()
    np.testing.assert_allclose(s[0], ref, rtol=1e-9, equal_nan=True)
    assert np.nanmedian(s) == pytest.approx(np.nanmedian(ref), rel=1e-9)
    assert 0.002 < np.nanmedian(s) < 0.01  # tens of bps for the most liquid stock (41 bps over these 500 days)
