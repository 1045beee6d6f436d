"""Return statistics as pure compiled functions over 1-D arrays of simple daily returns.

The one convention (every layer calls these; `tests/stats/test_against_empyrical.py` checks each
against empyrical-reloaded on real data to 1e-10):

* returns are simple daily returns `r_t = V_t / V_{t-1} - 1` between consecutive valid bars, fractions;
* the risk-free rate is an **annual** rate `rf` turned into a daily rate by compounding over 252
  trading days, `rf_d = (1 + rf)^(1/252) - 1`; excess returns are `r - rf_d`;
* Sharpe = sqrt(252) mean(r - rf_d) / std(r - rf_d, ddof=1); Sortino = 252 mean(r - rf_d) /
  (sqrt(252) sqrt(mean(min(r - rf_d, 0)^2)));
* annual return = (prod(1 + r))^(252 / n) - 1; annual volatility = sqrt(252) std(r, ddof=1);
* max drawdown is **negative or zero**: min over t of V_t / max(V_0..V_t) - 1, V_0 = the start;
* Calmar = annual return / |max drawdown|;
* CAPM beta = cov(r - rf_d, b - rf_d) / var(b - rf_d) (population moments over the days both are
  known); alpha (annualised) = (1 + mean((r - rf_d) - beta (b - rf_d)))^252 - 1.
NaN where a figure is undefined (fewer than two returns, zero variance).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TRADING_DAYS = 252


@njit(cache=True)
def daily_rf(annual_rate: float) -> float:
    """Daily risk-free rate from an annual one, compounded over 252 trading days."""
    return (1.0 + annual_rate) ** (1.0 / TRADING_DAYS) - 1.0


@njit(cache=True)
def simple_returns(values: np.ndarray) -> np.ndarray:
    """Simple returns of a value series (length n - 1; empty for n < 2)."""
    n = values.shape[0]
    out = np.empty(max(n - 1, 0))
    for t in range(1, n):
        out[t - 1] = values[t] / values[t - 1] - 1.0
    return out


@njit(cache=True)
def total_return(r: np.ndarray) -> float:
    """Compounded return of the series."""
    g = 1.0
    for x in r:
        g *= 1.0 + x
    return g - 1.0


@njit(cache=True)
def annual_return(r: np.ndarray) -> float:
    """Compound annual growth rate over n daily returns: (prod(1 + r))^(252 / n) - 1."""
    n = r.shape[0]
    if n < 1:
        return np.nan
    return (1.0 + total_return(r)) ** (TRADING_DAYS / n) - 1.0


@njit(cache=True)
def _mean_std(x: np.ndarray, shift: float) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of x - shift (Welford, numerically stable)."""
    m = 0
    mean = 0.0
    m2 = 0.0
    for v in x:
        y = v - shift
        m += 1
        d = y - mean
        mean += d / m
        m2 += d * (y - mean)
    if m < 2:
        return mean if m == 1 else np.nan, np.nan
    return mean, math.sqrt(m2 / (m - 1))


@njit(cache=True)
def annual_volatility(r: np.ndarray) -> float:
    """sqrt(252) x sample standard deviation of the daily returns."""
    _, sd = _mean_std(r, 0.0)
    return sd * math.sqrt(TRADING_DAYS)


@njit(cache=True)
def sharpe(r: np.ndarray, rf_d: float = 0.0) -> float:
    """Annualised Sharpe ratio of daily excess returns r - rf_d (NaN for < 2 returns or zero spread)."""
    mean, sd = _mean_std(r, rf_d)
    if not (sd > 0.0):
        return np.nan
    return mean / sd * math.sqrt(TRADING_DAYS)


@njit(cache=True, nogil=True)
def sharpe_and_volatility(r: np.ndarray, rf_d: float = 0.0) -> tuple[float, float]:
    """(sharpe(r, rf_d), annual_volatility(r)) bit for bit, with one Welford pass instead of two when rf_d is 0
    (the two are then the same recursion)."""
    mean, sd = _mean_std(r, rf_d)
    sd0 = sd if rf_d == 0.0 else _mean_std(r, 0.0)[1]
    sh = mean / sd * math.sqrt(TRADING_DAYS) if sd > 0.0 else np.nan
    return sh, sd0 * math.sqrt(TRADING_DAYS)


@njit(cache=True)
def sortino(r: np.ndarray, rf_d: float = 0.0) -> float:
    """Annualised Sortino ratio: annualised mean excess return over annualised downside deviation."""
    n = r.shape[0]
    if n < 2:
        return np.nan
    s = 0.0
    d2 = 0.0
    for v in r:
        y = v - rf_d
        s += y
        if y < 0.0:
            d2 += y * y
    down = math.sqrt(d2 / n) * math.sqrt(TRADING_DAYS)
    if not (down > 0.0):
        return np.nan if s == 0.0 else (np.inf if s > 0.0 else -np.inf)
    return s / n * TRADING_DAYS / down


@njit(cache=True)
def max_drawdown(r: np.ndarray) -> float:
    """Largest fall from a running peak, as a negative fraction (0 without a fall; the start counts as a peak)."""
    v = 1.0
    peak = 1.0
    mdd = 0.0
    for x in r:
        v *= 1.0 + x
        if v > peak:
            peak = v
        dd = v / peak - 1.0
        if dd < mdd:
            mdd = dd
    return mdd


@njit(cache=True)
def drawdown_series(values: np.ndarray) -> np.ndarray:
    """V_t / max(V_0..V_t) - 1 at each t: negative or zero."""
    out = np.empty(values.shape[0])
    peak = -np.inf
    for t in range(values.shape[0]):
        if values[t] > peak:
            peak = values[t]
        out[t] = values[t] / peak - 1.0 if peak > 0.0 else 0.0
    return out


@njit(cache=True)
def calmar(r: np.ndarray) -> float:
    """Annual return over the absolute max drawdown (NaN without a drawdown)."""
    mdd = max_drawdown(r)
    if mdd >= 0.0:
        return np.nan
    return annual_return(r) / -mdd


@njit(cache=True)
def alpha_beta(r: np.ndarray, b: np.ndarray, rf_d: float = 0.0) -> tuple[float, float]:
    """CAPM (annualised alpha, beta) of daily returns r against benchmark returns b (same days; pairs
    with a NaN on either side are left out): beta from daily excess returns, alpha compounded to a year."""
    n = 0
    sb = 0.0
    for k in range(r.shape[0]):
        if math.isfinite(r[k]) and math.isfinite(b[k]):
            n += 1
            sb += b[k] - rf_d
    if n < 2:
        return np.nan, np.nan
    mb = sb / n
    cov = 0.0
    var = 0.0
    for k in range(r.shape[0]):
        if math.isfinite(r[k]) and math.isfinite(b[k]):
            res = (b[k] - rf_d) - mb
            cov += res * (r[k] - rf_d)
            var += res * res
    cov /= n
    var /= n
    if var < 1e-30:
        return np.nan, np.nan
    beta = cov / var
    s = 0.0
    for k in range(r.shape[0]):
        if math.isfinite(r[k]) and math.isfinite(b[k]):
            s += (r[k] - rf_d) - beta * (b[k] - rf_d)
    return (1.0 + s / n) ** TRADING_DAYS - 1.0, beta
