"""Incremental (O(1) per bar) features of one stock for the live step: the Wilder RSI stack and the
20-bar volatility, carried in a small float64 vector instead of recomputed from the whole close history.

Bit-identical to the backtest's `data.features.rsi_stack` / `rolling_volatility` over the same valid
closes: the RSI recursion is the same operations in the same order (seed sums, x (p - 1), + move,
x 1/p), and the volatility keeps the last 20 log returns and sums them oldest first in two passes,
as the array kernel does for each window. tests/strategy/test_incremental.py checks it on real data.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.strategy.kernel import step

VOL_WINDOW = 20
VOL_SCALE = float(np.sqrt(252))  # the annualisation of `rolling_volatility` (periods_per_year=252)

# Layout of the feature vector: counters, then gains and losses per RSI period, then the return ring.
F_T = 0  # bars fed to the step (valid or not): the step's bar index t
F_N = 1  # valid closes seen
F_PREV = 2  # the last valid close (NaN before the first)
F_RPOS = 3  # next write slot of the return ring (the oldest return once it is full)
F_GAIN = 4  # then n_periods average gains, n_periods average losses, VOL_WINDOW returns


def feature_size(n_periods: int) -> int:
    """Length of the feature vector for an RSI stack of `n_periods` rows."""
    return F_GAIN + 2 * n_periods + VOL_WINDOW


def new_features(n_periods: int) -> np.ndarray:
    """The feature vector of a stock that has seen no bar yet."""
    f = np.zeros(feature_size(n_periods), dtype=np.float64)
    f[F_PREV] = np.nan
    f[F_GAIN + 2 * n_periods :] = np.nan
    return f


@njit(cache=True)
def feature_update(f: np.ndarray, periods: np.ndarray, close: float, rsi_out: np.ndarray) -> float:
    """Take one valid close: advance every RSI recursion (RSI into `rsi_out`, NaN in its warm-up) and
    the return ring; returns the 20-bar annualised volatility at this close (NaN until 20 returns)."""
    n_p = periods.shape[0]
    k = int(f[F_N])  # this close's index among the valid closes
    g0 = F_GAIN
    l0 = F_GAIN + n_p
    r0 = F_GAIN + 2 * n_p
    if k == 0:
        for j in range(n_p):
            rsi_out[j] = np.nan
    else:
        d = close - f[F_PREV]
        for j in range(n_p):
            p = periods[j]
            inv = 1.0 / p
            g = f[g0 + j]
            lo = f[l0 + j]
            if k <= p:  # the seed: plain sums of the first p moves, then x 1/p
                if d < 0.0:
                    lo -= d
                else:
                    g += d
                if k == p:
                    lo *= inv
                    g *= inv
            else:  # Wilder smoothing, TA-Lib's order of operations
                pm1 = float(p - 1)
                lo *= pm1
                g *= pm1
                if d < 0.0:
                    lo -= d
                else:
                    g += d
                lo *= inv
                g *= inv
            f[g0 + j] = g
            f[l0 + j] = lo
            if k >= p:
                tot = g + lo
                rsi_out[j] = 100.0 * (g / tot) if tot != 0.0 else 0.0
            else:
                rsi_out[j] = np.nan
        pos = int(f[F_RPOS])
        f[r0 + pos] = np.log(close / f[F_PREV])
        f[F_RPOS] = (pos + 1) % VOL_WINDOW
    f[F_PREV] = close
    f[F_N] = k + 1
    if k < VOL_WINDOW:  # fewer than 20 returns so far
        return np.nan
    start = int(f[F_RPOS])  # the oldest return
    mean = 0.0
    for i in range(VOL_WINDOW):
        mean += f[r0 + (start + i) % VOL_WINDOW]
    mean /= VOL_WINDOW
    ss = 0.0
    for i in range(VOL_WINDOW):
        dv = f[r0 + (start + i) % VOL_WINDOW] - mean
        ss += dv * dv
    return math.sqrt(ss / (VOL_WINDOW - 1)) * VOL_SCALE


@njit(cache=True)
def step_one(state: np.ndarray, f: np.ndarray, params: np.ndarray, periods: np.ndarray, open_t: float, close_t: float,
             valid_t: bool, rsi_buf: np.ndarray, event: np.ndarray) -> int:
    """One live bar of one stock: update its features (valid bars only), then the backtest's `step`."""
    if valid_t:
        vol = feature_update(f, periods, close_t, rsi_buf)
    else:
        vol = np.nan
        for j in range(rsi_buf.shape[0]):
            rsi_buf[j] = np.nan
    t = int(f[F_T])
    sig = step(state, params, t, open_t, close_t, valid_t, rsi_buf, vol, False, event)
    f[F_T] = t + 1
    return sig


@njit(cache=True)
def step_many(states: np.ndarray, feats: np.ndarray, params: np.ndarray, periods: np.ndarray, open_: np.ndarray,
              close: np.ndarray, valid: np.ndarray, rsi_buf: np.ndarray, events: np.ndarray, signals: np.ndarray) -> None:
    """One bar batch: `step_one` for every stock (row) in one compiled call."""
    for i in range(states.shape[0]):
        signals[i] = step_one(states[i], feats[i], params, periods, open_[i], close[i], valid[i], rsi_buf, events[i])
