"""PSR and DSR against the papers' worked numbers and hand computation; order invariance; bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.research.stats import (
    EULER_GAMMA,
    bootstrap_ci,
    dsr,
    expected_max_sharpe,
    mean_ci_time_series,
    mean_rows,
    moments,
    norm_cdf,
    norm_ppf,
    positive_share_rows,
    psr,
)


def _phi(x: float) -> float:
    """Independent normal CDF for the hand computations (erfc form)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def test_normal_helpers() -> None:
    assert norm_cdf(0.0) == 0.5
    assert norm_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert norm_ppf(0.99) == pytest.approx(2.3263478740408408, abs=1e-9)  # tabulated z_0.99
    assert norm_ppf(1 - 1 / (100 * math.e)) == pytest.approx(2.6798, abs=1e-3)
    with pytest.raises(ValueError):
        norm_ppf(1.0)


def test_dsr_paper_example() -> None:
    """Bailey & Lopez de Prado (2014), numerical example: N = 100 trials, V[SR_n] = 1/2 (annual),
    T = 1,250 daily returns, annual SR 2.5, skew -3, kurtosis 10, 250 days a year:
    SR0 ~= 0.1132 (daily) and DSR ~= 0.9004."""
    v_daily = 0.5 / 250
    sr0 = expected_max_sharpe(v_daily, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    sr = 2.5 / math.sqrt(250)
    assert psr(sr, sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-5)
    # the same through dsr(): 100 trial SRs with exactly that variance
    z = np.random.default_rng(0).standard_normal(100)
    trials = (z - z.mean()) / z.std(ddof=1) * math.sqrt(v_daily)
    d = dsr(sr, 1250, -3.0, 10.0, trials.tolist())
    assert d.n_trials == 100 and d.sr_variance == pytest.approx(v_daily)
    assert d.sr0 == pytest.approx(0.1132, abs=5e-5) and d.dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_hand_computed() -> None:
    """PSR written out independently: (SR - SR*) sqrt(n-1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)."""
    # normal returns, daily SR 0.1 over 253 returns against 0: z = 0.1 * sqrt(252) / sqrt(1 + 0.5 * 0.01)
    z = 0.1 * math.sqrt(252) / math.sqrt(1.005)
    assert z == pytest.approx(1.58350, abs=1e-5)
    assert psr(0.1, 0.0, 253) == pytest.approx(_phi(z), abs=1e-12)
    assert psr(0.1, 0.0, 253) == pytest.approx(0.94335, abs=1e-5)
    # negative skew and fat tails lower the PSR of the same SR (Sharpe Ratio Efficient Frontier, sec. 3)
    z2 = (0.1 - 0.05) * math.sqrt(99) / math.sqrt(1 + 1.5 * 0.1 + 8 / 4 * 0.01)
    assert psr(0.1, 0.05, 100, -1.5, 9.0) == pytest.approx(_phi(z2), abs=1e-12)
    assert psr(0.1, 0.05, 100, -1.5, 9.0) < psr(0.1, 0.05, 100, 0.0, 3.0)
    assert psr(0.2, 0.2, 500, -1.0, 6.0) == pytest.approx(0.5)


def test_expected_max_sharpe_hand_computed() -> None:
    """SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), here N = 10, V = 0.01."""
    from statistics import NormalDist

    inv = NormalDist().inv_cdf
    want = 0.1 * ((1 - EULER_GAMMA) * inv(0.9) + EULER_GAMMA * inv(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(0.01, 10) == pytest.approx(want, abs=1e-15)
    assert want == pytest.approx(0.15745, abs=1e-4)
    assert expected_max_sharpe(0.01, 1) == 0.0  # one trial: nothing to deflate
    assert expected_max_sharpe(0.01, 1000) > expected_max_sharpe(0.01, 100) > expected_max_sharpe(0.01, 10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=2, max_size=40), st.randoms(use_true_random=False))
def test_dsr_invariant_to_trial_order(trials: list[float], rnd: object) -> None:
    shuffled = list(trials)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = dsr(0.12, 1000, -0.5, 5.0, trials)
    b = dsr(0.12, 1000, -0.5, 5.0, shuffled)
    assert (a.dsr == b.dsr or (math.isnan(a.dsr) and math.isnan(b.dsr))) and a.sr0 == b.sr0


def test_moments_of_known_series() -> None:
    x = np.array([0.01, -0.02, 0.03, 0.0, 0.01, np.nan])
    m = moments(x)
    v = x[np.isfinite(x)]
    d = v - v.mean()
    assert m.n == 5
    assert m.sharpe == pytest.approx(v.mean() / v.std(ddof=1))
    assert m.skew == pytest.approx(np.mean(d**3) / np.mean(d**2) ** 1.5)
    assert m.kurt == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2)
    g = moments(np.random.default_rng(1).standard_normal(200_000))
    assert g.skew == pytest.approx(0.0, abs=0.03) and g.kurt == pytest.approx(3.0, abs=0.05)


def test_bootstrap_cis_cover_and_shrink() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.05, 0.2, 400)
    lo, hi = bootstrap_ci(x, mean_rows, n_boot=1000, seed=1)
    assert lo < x.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * 0.2 / 20, rel=0.25)
    slo, shi = bootstrap_ci(x, positive_share_rows, n_boot=1000, seed=1)
    assert slo < (x > 0).mean() < shi
    tlo, thi = mean_ci_time_series(x, n_boot=300, block=5.0, seed=2)
    assert tlo < x.mean() < thi
    assert bootstrap_ci(np.array([1.0]), mean_rows) != bootstrap_ci(np.array([1.0]), mean_rows)  # NaNs: too few items
