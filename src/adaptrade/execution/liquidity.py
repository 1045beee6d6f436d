"""Liquidity analysis on daily bars: average daily volume, participation cap, Corwin-Schultz
spread from high/low, and square-root market impact. All past-only."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TRADING_DAYS = 252.0
_K = 3.0 - 2.0 * math.sqrt(2.0)


def average_daily_volume(volume: np.ndarray, valid: np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing mean volume over the last `window` valid bars ending at t ([symbol, t], NaN until full)."""
    from adaptrade.data.features import average_daily_volume as adv

    return adv(volume, valid, window)


@njit(cache=True)
def participation_cap(bar_volume: float, participation: float) -> float:
    """Most shares one order may take from a bar: participation x the bar's volume (inf = no cap)."""
    if math.isinf(participation):
        return np.inf
    if not math.isfinite(bar_volume) or bar_volume <= 0.0:
        return 0.0
    return participation * bar_volume


@njit(cache=True)
def impact_fraction(qty: float, adv: float, vol_annual: float, k: float) -> float:
    """Square-root impact as a fraction of price: k x daily vol x sqrt(qty / ADV) (0 when unknown)."""
    if k <= 0.0 or qty <= 0.0 or not (adv > 0.0) or not math.isfinite(vol_annual) or not math.isfinite(adv):
        return 0.0
    return k * vol_annual / math.sqrt(TRADING_DAYS) * math.sqrt(qty / adv)


@njit(cache=True)
def _cs_kernel(high: np.ndarray, low: np.ndarray, valid: np.ndarray, window: int, out: np.ndarray) -> None:
    n, T = high.shape
    buf = np.empty(T)
    pos = np.empty(T, dtype=np.int64)
    for s in range(n):
        m = 0
        ph = np.nan
        pl = np.nan
        for t in range(T):
            if not valid[s, t]:
                continue
            h = high[s, t]
            lo = low[s, t]
            if not (h > 0.0 and lo > 0.0 and math.isfinite(ph)):
                ph, pl = h, lo
                continue
            beta = math.log(h / lo) ** 2 + math.log(ph / pl) ** 2
            gamma = math.log(max(h, ph) / min(lo, pl)) ** 2
            alpha = (math.sqrt(2.0 * beta) - math.sqrt(beta)) / _K - math.sqrt(gamma / _K)
            sp = 2.0 * (math.exp(alpha) - 1.0) / (1.0 + math.exp(alpha))
            buf[m] = max(0.0, sp)
            pos[m] = t
            m += 1
            ph, pl = h, lo
        acc = 0.0
        for k in range(m):
            acc += buf[k]
            if k >= window:
                acc -= buf[k - window]
            if k >= window - 1:
                out[s, pos[k]] = acc / window


def corwin_schultz_spread(high: np.ndarray, low: np.ndarray, valid: np.ndarray, window: int = 20) -> np.ndarray:
    """Corwin-Schultz (2012) relative bid-ask spread from two-day high/low ranges, negative
    estimates set to 0, averaged over the last `window` estimates ending at t: [symbol, t], past-only."""
    h = np.ascontiguousarray(high, dtype=np.float64)
    lo = np.ascontiguousarray(low, dtype=np.float64)
    v = np.ascontiguousarray(np.asarray(valid, dtype=bool) & np.isfinite(h) & np.isfinite(lo))
    out = np.full(h.shape, np.nan)
    _cs_kernel(h, lo, v, int(window), out)
    return out


@njit(cache=True)
def estimated_cost_bps(qty: float, adv: float, vol_annual: float, spread: float, impact_k: float) -> float:
    """Expected cost of crossing now, in bps: half the spread plus square-root impact (compiled:
    the portfolio loop's order-type rule and orders.csv `est_cost_bps`)."""
    half = 0.5 * spread if math.isfinite(spread) else 0.0
    return 1e4 * (half + impact_fraction(qty, adv, vol_annual, impact_k))
