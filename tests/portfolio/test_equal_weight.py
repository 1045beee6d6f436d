"""The compiled equal-weight buy-and-hold equals the numpy formula it replaced, bit for bit (gaps, late listings,
a stock with no bar at all, prices of very different sizes)."""

from __future__ import annotations

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.portfolio.account import equal_weight_buy_hold


def _numpy_reference(bars: Bars, initial_cash: float, slippage: float, commission: float) -> np.ndarray:
    n, t_len = bars.close.shape
    sleeve = initial_cash / n
    c = np.where(bars.valid, bars.close, np.nan)
    idx = np.where(np.isfinite(c), np.arange(t_len)[None, :], -1)
    last = np.maximum.accumulate(idx, axis=1)
    marked = np.where(last >= 0, np.take_along_axis(np.nan_to_num(c), np.maximum(last, 0), axis=1), np.nan)
    has = (last >= 0).any(axis=1)
    first = np.argmax(last >= 0, axis=1)
    entry = np.where(has, marked[np.arange(n), first], np.nan) * (1.0 + slippage) * (1.0 + commission)
    shares = np.where(has, sleeve / entry, 0.0)
    value = np.where(last >= 0, shares[:, None] * marked, sleeve)
    return value.sum(axis=0)


def test_equal_weight_buy_hold_matches_the_numpy_formula() -> None:
    rng = np.random.default_rng(4)
    b = generate([f"S{i}" for i in range(120)], 1500, seed=9)
    valid = b.valid.copy()
    valid[rng.random(valid.shape) < 0.03] = False
    for i in range(0, 120, 7):
        valid[i, : rng.integers(0, 1200)] = False
    valid[5] = False
    close = b.close * np.exp(rng.normal(0.0, 3.0, size=(120, 1)))
    bars = Bars(dates=b.dates, symbols=b.symbols, open=b.open, high=b.high, low=b.low, close=close, volume=b.volume, valid=valid)
    got = equal_weight_buy_hold(bars, 100_000.0, 5e-4, 1e-4)
    assert np.array_equal(got, _numpy_reference(bars, 100_000.0, 5e-4, 1e-4))
    assert got[0] < 100_000.0 < got.max()  # costs paid at the first bars; the book moves
