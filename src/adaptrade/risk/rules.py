"""Compiled risk rules called by the portfolio loop: Kelly sizing, stops, caps, correlation
scaling and the drawdown circuit breaker. Each returns the rule code that fired (limits.RULES)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.risk.limits import (
    LIM_BREAKER_COOLDOWN,
    LIM_CORR_LIMIT,
    LIM_CORR_REFUSE,
    LIM_KELLY_FRACTION,
    LIM_KELLY_MIN_TRADES,
    LIM_MAX_DRAWDOWN,
    LIM_MAX_POSITION,
    LIM_MIN_WEIGHT,
    LIM_SIZING_KELLY,
    LIM_STOP_PCT,
    LIM_STOP_VOL_K,
)

RULE_KELLY_WARMUP, RULE_KELLY_NONPOS, RULE_MAX_POSITION, RULE_CORR_SCALED, RULE_CORR_REFUSED = 1, 2, 3, 4, 5
RULE_MAX_GROSS, RULE_CASH, RULE_BREAKER, RULE_TRIPPED, RULE_RESET = 6, 7, 8, 9, 10
RULE_STOP_PCT, RULE_STOP_VOL, RULE_TOO_SMALL, RULE_UNFILLED = 11, 12, 13, 14

# account risk state (a small float vector): running peak, breaker on/off, bar it tripped
ACC_PEAK, ACC_BREAKER, ACC_TRIPPED_T = 0, 1, 2
ACCOUNT_SIZE = 3


@njit(cache=True)
def kelly_weight(win_rate: float, avg_win: float, avg_loss: float, n_trades: float, risk: np.ndarray) -> tuple[float, int]:
    """Target weight from fractional Kelly for trades that win `avg_win` and lose `avg_loss` (fractions
    of the stake) on average: growth-optimal K = p / L - q / W (docs/risk.md); (weight, rule).

    Zero (rule kelly_warmup) until the strategy has kelly_min_trades closed trades; zero
    (kelly_nonpositive) when K <= 0; no loss seen yet: K = 1 (the whole stake, before the fraction and
    the caps). Without Kelly sizing the weight is max_position.
    """
    if risk[LIM_SIZING_KELLY] == 0.0:
        return risk[LIM_MAX_POSITION], 0
    if n_trades < risk[LIM_KELLY_MIN_TRADES] or not math.isfinite(win_rate):
        return 0.0, RULE_KELLY_WARMUP
    if not (avg_loss > 0.0) or not math.isfinite(avg_loss):  # no loss seen yet: unbounded, take the whole stake
        k = 1.0 if win_rate > 0.0 else -1.0
    elif not (avg_win > 0.0) or not math.isfinite(avg_win):
        k = -1.0
    else:
        k = win_rate / avg_loss - (1.0 - win_rate) / avg_win
    if k <= 0.0:
        return 0.0, RULE_KELLY_NONPOS
    return risk[LIM_KELLY_FRACTION] * k, 0


@njit(cache=True)
def cap(weight: float, limit: float, rule: int) -> tuple[float, int]:
    """min(weight, limit) and the rule code when it bound (0 otherwise)."""
    if weight > limit:
        return max(limit, 0.0), rule
    return weight, 0


@njit(cache=True)
def stop_rule(close_t: float, entry_price: float, vol_annual: float, risk: np.ndarray) -> int:
    """Which stop-loss fires at this close (RULE_STOP_PCT / RULE_STOP_VOL) or 0; fixed stop checked first."""
    if not (entry_price > 0.0) or not math.isfinite(close_t):
        return 0
    pct = risk[LIM_STOP_PCT]
    if pct > 0.0 and close_t <= entry_price * (1.0 - pct):
        return RULE_STOP_PCT
    k = risk[LIM_STOP_VOL_K]
    if k > 0.0 and math.isfinite(vol_annual) and close_t <= entry_price * (1.0 - k * vol_annual / math.sqrt(252.0)):
        return RULE_STOP_VOL
    return 0


@njit(cache=True)
def correlation_scale(avg_corr: float, risk: np.ndarray) -> tuple[float, int]:
    """Multiplier for a new entry from its average correlation with the book; (scale, rule).

    Above corr_limit the entry is scaled by (1 - avg) / (1 - limit) (1 at the limit, 0 at perfect
    correlation), or refused when corr_refuse is set.
    """
    lim = risk[LIM_CORR_LIMIT]
    if not math.isfinite(avg_corr) or avg_corr <= lim or lim >= 1.0:
        return 1.0, 0
    if risk[LIM_CORR_REFUSE] != 0.0:
        return 0.0, RULE_CORR_REFUSED
    s = (1.0 - avg_corr) / (1.0 - lim)
    if s <= 0.0:
        return 0.0, RULE_CORR_REFUSED
    return s, RULE_CORR_SCALED


@njit(cache=True)
def avg_correlation(ret: np.ndarray, i: int, held: np.ndarray, n_held: int, t: int, window: int) -> float:
    """Mean Pearson correlation of stock i's last `window` returns (ending at t) with each held stock's.

    Only bars where both returns are finite count; pairs with fewer than 5 such bars are skipped.
    NaN when nothing is held or no pair qualifies.
    """
    lo = max(0, t - window + 1)
    total = 0.0
    used = 0
    for h in range(n_held):
        j = held[h]
        if j == i:
            continue
        n = 0
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for k in range(lo, t + 1):
            x = ret[i, k]
            y = ret[j, k]
            if math.isfinite(x) and math.isfinite(y):
                n += 1
                sx += x
                sy += y
                sxx += x * x
                syy += y * y
                sxy += x * y
        if n < 5:
            continue
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        if vx <= 0.0 or vy <= 0.0:
            continue
        total += (sxy - sx * sy / n) / math.sqrt(vx * vy)
        used += 1
    return total / used if used > 0 else np.nan


@njit(cache=True)
def breaker_update(acct: np.ndarray, equity: float, t: int, risk: np.ndarray) -> tuple[int, float]:
    """Advance the drawdown breaker at bar t's close; (rule fired or 0, drawdown from the peak).

    Trips when drawdown > max_drawdown; resets after breaker_cooldown bars, re-basing the peak
    to the equity at reset (so the next trip needs a fresh max_drawdown loss).
    """
    acct[ACC_PEAK] = max(acct[ACC_PEAK], equity)
    dd = 1.0 - equity / acct[ACC_PEAK] if acct[ACC_PEAK] > 0.0 else 0.0
    if acct[ACC_BREAKER] != 0.0:
        if t - acct[ACC_TRIPPED_T] >= risk[LIM_BREAKER_COOLDOWN]:
            acct[ACC_BREAKER] = 0.0
            acct[ACC_PEAK] = equity
            return RULE_RESET, dd
        return 0, dd
    if dd > risk[LIM_MAX_DRAWDOWN]:
        acct[ACC_BREAKER] = 1.0
        acct[ACC_TRIPPED_T] = t
        return RULE_TRIPPED, dd
    return 0, dd


@njit(cache=True)
def too_small(weight: float, risk: np.ndarray) -> bool:
    """True when a final entry weight is not worth an order (below min_weight, or zero)."""
    return weight <= 0.0 or weight < risk[LIM_MIN_WEIGHT]
