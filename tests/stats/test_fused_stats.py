"""The fused statistics the per-stock metrics call give the separate functions' values bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptrade.stats import annual_volatility, sharpe, sharpe_and_volatility

returns = arrays(np.float64, st.integers(0, 300), elements=st.floats(-0.5, 0.5, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(r=returns, rf=st.sampled_from([0.0, 1e-4, 0.05 / 252, -1e-5]))
def test_sharpe_and_volatility_equal_the_separate_functions(r: np.ndarray, rf: float) -> None:
    sh, vol = sharpe_and_volatility(r, rf)
    want_sh, want_vol = sharpe(r, rf), annual_volatility(r)
    assert (np.isnan(sh) and np.isnan(want_sh)) or sh == want_sh
    assert (np.isnan(vol) and np.isnan(want_vol)) or vol == want_vol


def test_constant_returns_have_no_sharpe() -> None:
    sh, vol = sharpe_and_volatility(np.full(10, 0.01), 0.0)
    assert np.isnan(sh) and vol == 0.0
