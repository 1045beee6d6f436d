"""Overfitting statistics (part of the one statistics module): Probabilistic and Deflated Sharpe Ratio, bootstrap confidence intervals.

PSR and DSR follow Bailey and Lopez de Prado, "The Sharpe Ratio Efficient Frontier" (2012) and
"The Deflated Sharpe Ratio" (2014). Sharpe ratios here are per period (not annualised), skewness
is the third standardised moment and kurtosis the fourth (non-excess: 3 for a normal law).
The standard normal law comes from the standard library (`statistics.NormalDist`), so scipy stays
a development-only dependency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant
_STD_NORMAL = NormalDist()


def norm_cdf(x: float) -> float:
    """Standard normal CDF via math.erf."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def norm_ppf(p: float) -> float:
    """Standard normal quantile (statistics.NormalDist().inv_cdf, Wichura AS241 accuracy)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile needs 0 < p < 1, got {p}")
    return _STD_NORMAL.inv_cdf(p)


@dataclass(frozen=True)
class Moments:
    """Per-period Sharpe ratio, skewness, kurtosis (non-excess) and length of a return series."""

    sharpe: float
    skew: float
    kurt: float
    n: int


def moments(returns: np.ndarray) -> Moments:
    """Moments of the finite values of `returns`: the per-period Sharpe ratio (`returns.sharpe` de-annualised:
    mean / std, ddof=1, no risk-free rate - these are excess returns already), population skew and kurtosis."""
    from adaptrade.stats.returns import TRADING_DAYS, sharpe

    x = np.asarray(returns, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n < 3:
        return Moments(float("nan"), float("nan"), float("nan"), n)
    m = float(x.mean())
    d = x - m
    m2 = float(np.mean(d * d))
    if m2 <= 0.0:
        return Moments(float("nan"), 0.0, 3.0, n)
    sr = float(sharpe(np.ascontiguousarray(x), 0.0)) / math.sqrt(TRADING_DAYS)
    return Moments(sr, float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2, n)


def psr(sr: float, sr_star: float, n: int, skew: float = 0.0, kurt: float = 3.0) -> float:
    """Probabilistic Sharpe Ratio: P(true SR > sr_star) given an observed per-period SR over n returns.

    PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2)).
    """
    if n < 2 or not math.isfinite(sr):
        return float("nan")
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if var <= 0.0:  # only for extreme skew/SR pairs; the estimate is then meaningless
        return float("nan")
    return norm_cdf((sr - sr_star) * math.sqrt(n - 1.0) / math.sqrt(var))


def expected_max_sharpe(sr_variance: float, n_trials: int) -> float:
    """SR0: expected maximum per-period SR of n_trials unskilled trials whose SRs have variance sr_variance.

    SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))); 0 for a single trial.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1 or sr_variance <= 0.0:
        return 0.0
    z = (1.0 - EULER_GAMMA) * norm_ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm_ppf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sr_variance) * z


@dataclass(frozen=True)
class Deflated:
    """A DSR result: the value, the deflated benchmark SR0 and what it was computed from."""

    dsr: float
    sr0: float
    n_trials: int
    sr_variance: float


def dsr(sr: float, n: int, skew: float, kurt: float, trial_sharpes: Sequence[float], n_trials: int | None = None) -> Deflated:
    """Deflated Sharpe Ratio: PSR against SR0 from every trial's per-period SR (order does not matter).

    `n_trials` counts configurations tried when it exceeds the finite Sharpe ratios given (failed trials).
    """
    srs = np.sort(np.asarray(list(trial_sharpes), dtype=np.float64))  # sorted: order-invariant to the last bit
    srs = srs[np.isfinite(srs)]
    if srs.size == 0:
        raise ValueError("dsr needs at least one finite trial Sharpe ratio")
    v = float(np.var(srs, ddof=1)) if srs.size > 1 else 0.0
    count = max(int(srs.size), n_trials or 0)
    sr0 = expected_max_sharpe(v, count)
    return Deflated(psr(sr, sr0, n, skew, kurt), sr0, count, v)


def bootstrap_ci(
    x: np.ndarray,
    stat: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `stat` (applied row-wise to resamples [n_boot, n]) over iid items."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = stat(v[rng.integers(0, v.size, size=(n_boot, v.size))])
    a = (1.0 - level) / 2.0
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1.0 - a))


def mean_rows(a: np.ndarray) -> np.ndarray:
    """Row means (the statistic for a bootstrap CI of a mean)."""
    return a.mean(axis=1)


def positive_share_rows(a: np.ndarray) -> np.ndarray:
    """Row shares of values > 0 (the statistic for a CI of the beat-the-benchmark share)."""
    return (a > 0).mean(axis=1)


def stationary_bootstrap_means(x: np.ndarray, *, n_boot: int = 1000, block: float = 20.0, seed: int = 0) -> np.ndarray:
    """Means of Politis-Romano stationary-bootstrap resamples of a time series (mean block length `block`)."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.size
    if n < 2:
        return np.full(n_boot, np.nan)
    rng = np.random.default_rng(seed)
    p = 1.0 / max(block, 1.0)
    idx = rng.integers(0, n, size=n_boot)
    total = v[idx].copy()
    for _ in range(1, n):
        jump = rng.random(n_boot) < p
        idx = np.where(jump, rng.integers(0, n, size=n_boot), idx + 1)
        idx[idx >= n] -= n
        total += v[idx]
    return total / n


def mean_ci_time_series(x: np.ndarray, *, level: float = 0.95, n_boot: int = 1000, block: float = 20.0, seed: int = 0) -> tuple[float, float]:
    """Stationary-bootstrap percentile CI of the mean of a (possibly autocorrelated) return series."""
    means = stationary_bootstrap_means(x, n_boot=n_boot, block=block, seed=seed)
    if not np.isfinite(means).any():
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(means, a)), float(np.quantile(means, 1.0 - a))


def t_stat(x: np.ndarray) -> float:
    """One-sample t statistic of the mean of the finite values of x (nan when undefined)."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 3:
        return float("nan")
    sd = float(v.std(ddof=1))
    return float(v.mean()) / (sd / math.sqrt(v.size)) if sd > 0 else float("nan")
