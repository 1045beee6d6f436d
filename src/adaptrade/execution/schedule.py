"""Schedulers that split a parent order into child slices: TWAP (equal slices over a window) and
VWAP (slices follow a volume profile estimated from past sessions only); U-shaped fallback profile.

Reached only by tests today; paper trading (#15) schedules next-session orders with it."""

from __future__ import annotations

import itertools

import numpy as np

SESSION_MINUTES = 390  # 09:30-16:00 US/Eastern


def u_shaped_profile(n: int, depth: float = 2.0) -> np.ndarray:
    """Typical intraday volume shape over n buckets: heavy open and close, light midday; sums to 1.

    weight(x) = 1 + depth x (2x - 1)^2 at the bucket mid-point x in (0, 1): the ends carry
    (1 + depth) times the midday volume.
    """
    if n < 1:
        raise ValueError("a profile needs at least one bucket")
    x = (np.arange(n) + 0.5) / n
    w = 1.0 + depth * (2.0 * x - 1.0) ** 2
    return w / w.sum()


def _split(quantity: float, weights: np.ndarray, whole: bool) -> np.ndarray:
    """quantity x weights; with whole shares, floors plus the largest remainders so the sum is exact."""
    raw = quantity * weights / weights.sum()
    if not whole:
        return raw
    base = np.floor(raw)
    short = round(quantity - base.sum())
    if short > 0:
        order = np.argsort(-(raw - base), kind="stable")[:short]
        base[order] += 1.0
    return base


def twap_schedule(quantity: float, n_slices: int, whole_shares: bool = True) -> np.ndarray:
    """Equal child sizes over n_slices (whole shares: sizes differ by at most one); sums to quantity."""
    if n_slices < 1:
        raise ValueError("TWAP needs at least one slice")
    return _split(float(quantity), np.ones(n_slices), whole_shares)


def vwap_schedule(quantity: float, profile: np.ndarray, whole_shares: bool = True) -> np.ndarray:
    """Child sizes proportional to a volume profile (one weight per slice); sums to quantity."""
    p = np.asarray(profile, dtype=float)
    if p.ndim != 1 or len(p) == 0 or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ValueError("a VWAP profile must be non-negative finite weights with a positive sum")
    return _split(float(quantity), p, whole_shares)


def bucket_edges(n_buckets: int, minutes: int = SESSION_MINUTES) -> np.ndarray:
    """Clock-time bucket edges in minutes since 09:30: n_buckets equal slices of the session. The
    VWAP profile is measured on these edges and `execute_parent` slices the order on the same ones."""
    return np.linspace(0, minutes, n_buckets + 1).round().astype(int)


def profile_from_history(volume: np.ndarray, n_buckets: int) -> np.ndarray:
    """Volume profile from past sessions: volume [session, minute] (NaN = no bar) -> mean share per bucket.

    Each past session's minute volumes are summed into n_buckets equal time buckets and
    normalised to that session's total; the profile is the mean over sessions (sums to 1).
    The caller passes sessions strictly before the one being traded (past data only).
    """
    v = np.asarray(volume, dtype=float)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError("need at least one past session of minute volumes [session, minute]")
    edges = bucket_edges(n_buckets, v.shape[1])
    buckets = np.stack([np.nansum(v[:, a:b], axis=1) for a, b in itertools.pairwise(edges)], axis=1)
    tot = buckets.sum(axis=1, keepdims=True)
    ok = tot[:, 0] > 0
    if not ok.any():
        raise ValueError("past sessions have no volume")
    prof = (buckets[ok] / tot[ok]).mean(axis=0)
    return prof / prof.sum()
