"""TWAP/VWAP schedulers and the past-only volume profile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.execution.schedule import (
    profile_from_history,
    twap_schedule,
    u_shaped_profile,
    vwap_schedule,
)


@settings(max_examples=60, deadline=None)
@given(qty=st.integers(1, 10_000_000), n=st.integers(1, 60))
def test_twap_sums_and_is_equal_within_one_share(qty: int, n: int) -> None:
    s = twap_schedule(qty, n)
    assert s.sum() == qty and s.max() - s.min() <= 1 and (s == np.floor(s)).all()


@settings(max_examples=60, deadline=None)
@given(qty=st.integers(100, 10_000_000), w=st.lists(st.floats(0.01, 10.0), min_size=2, max_size=40))
def test_vwap_child_sizes_follow_the_profile(qty: int, w: list[float]) -> None:
    p = np.array(w) / np.sum(w)
    s = vwap_schedule(qty, p)
    assert s.sum() == qty
    assert np.abs(s - qty * p).max() < 1.0 + 1e-9  # whole shares: within one share of the exact split
    np.testing.assert_allclose(vwap_schedule(qty, p, whole_shares=False), qty * p)


def test_u_shape_is_heavy_at_both_ends() -> None:
    p = u_shaped_profile(13)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(p[-1]) and p[0] > 2.5 * p[6]


def test_profile_from_real_minutes_uses_past_sessions_and_is_u_shaped(shared_data_dir) -> None:
    from adaptrade.execution.intraday import read_minutes, session_matrix

    m = read_minutes(shared_data_dir / "ohlcv" / "intraday" / "AMZN_1min_2025-01-13_2025-01-18.csv")
    dates, vol = session_matrix(m)
    assert len(dates) == 5 and vol.shape == (5, 390)
    prof = profile_from_history(vol[:4], 13)  # the first four sessions, to trade the fifth
    assert prof.sum() == pytest.approx(1.0)
    assert prof[0] > prof[6] and prof[-1] > prof[6]  # real volume is U-shaped too
    changed = vol.copy()
    changed[4] *= 100  # the traded session itself must not move the profile
    np.testing.assert_allclose(profile_from_history(changed[:4], 13), prof)


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(ValueError):
        vwap_schedule(100, np.array([0.5, -0.1]))
    with pytest.raises(ValueError):
        twap_schedule(100, 0)
