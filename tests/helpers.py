"""Test helpers shared by the look-ahead tests: a future that differs in prices AND volumes."""

from __future__ import annotations

import numpy as np

from adaptrade.data.bars import Bars


def perturb_after(bars: Bars, cut: int, rng: np.random.Generator, price_sd: float = 0.08, volume_sd: float = 0.7) -> Bars:
    """Every bar after `cut` replaced by a different, still consistent bar: each bar's OHLC scaled by
    its own random factor (high/low widened so low <= open, close <= high) and its volume scaled by
    another. Bars at or before `cut` are untouched; validity is unchanged."""
    o, h, lo, c, v = (np.array(x, dtype=np.float64, copy=True) for x in (bars.open, bars.high, bars.low, bars.close, bars.volume))
    shape = (c.shape[0], c.shape[1] - cut - 1)
    shock = np.exp(rng.normal(0.0, price_sd, size=shape))
    for arr in (o, h, lo, c):
        arr[:, cut + 1 :] *= shock
    h[:, cut + 1 :] *= 1.0 + rng.uniform(0.0, 0.03, size=shape)
    lo[:, cut + 1 :] *= 1.0 - rng.uniform(0.0, 0.03, size=shape)
    v[:, cut + 1 :] *= np.exp(rng.normal(0.0, volume_sd, size=shape))
    return Bars(dates=bars.dates, symbols=bars.symbols, open=o, high=h, low=lo, close=c, volume=v, valid=bars.valid)
