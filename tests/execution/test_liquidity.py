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


def test_corwin_schultz_on_real_aapl_is_a_few_basis_points(shared_data_dir) -> None:
    df = pd.read_csv(shared_data_dir / "ohlcv" / "daily" / "AAPL.csv.gz").tail(500)
    s = corwin_schultz_spread(df[["high"]].T.to_numpy(), df[["low"]].T.to_numpy(), np.ones((1, len(df)), bool))
    med = np.nanmedian(s)
    assert 0.0 < med < 0.01  # under 100 bps for the most liquid stock
