"""The live step's incremental features equal, bit for bit, the backtest's full-history RSI stack and
volatility on the shipped real sample; the bounded snapshot and the earlier full-close snapshot restore alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adaptrade.data.archive import load_archive
from adaptrade.data.features import rolling_volatility, rsi_stack
from adaptrade.data.sample import SAMPLE_SYMBOLS
from adaptrade.strategy.adaptive import AdaptiveRSIStrategy, StrategyBatch
from adaptrade.strategy.incremental import feature_update, new_features
from adaptrade.strategy.params import PERIODS, StrategyConfig


def test_incremental_rsi_and_volatility_are_the_backtest_arrays_bit_for_bit(sample_dir: Path) -> None:
    bars, _ = load_archive(sample_dir, SAMPLE_SYMBOLS)
    bars = bars.adjusted()
    valid = bars.valid.copy()
    valid[3, 900:912] = False  # a halt: skipped, not a zero return
    for periods in (PERIODS, (2,)):
        per = np.asarray(periods, dtype=np.int64)
        ref_rsi = rsi_stack(bars.close, valid, periods)
        ref_vol = rolling_volatility(bars.close, valid, 20)
        rsi = np.full(ref_rsi.shape, np.nan)
        vol = np.full(ref_vol.shape, np.nan)
        buf = np.empty(len(periods))
        for i in range(bars.n_symbols):
            f = new_features(len(periods))
            for t in range(bars.n_bars):
                if valid[i, t] and np.isfinite(bars.close[i, t]):
                    vol[i, t] = feature_update(f, per, float(bars.close[i, t]), buf)
                    rsi[i, :, t] = buf
        np.testing.assert_array_equal(rsi, ref_rsi)  # NaN in the same places, every other value identical
        np.testing.assert_array_equal(vol, ref_vol)
    assert np.isfinite(ref_rsi).sum() > 10 * 2000


def test_bounded_snapshot_and_the_old_full_history_snapshot_continue_identically(sample_dir: Path) -> None:
    bars, _ = load_archive(sample_dir, SAMPLE_SYMBOLS[:1])
    bars = bars.adjusted()
    cfg = StrategyConfig(buy=35.0, sell=65.0)
    a = AdaptiveRSIStrategy(bars.symbols[0], cfg)
    closes = []
    half = bars.n_bars // 2
    for t in range(half):
        a.on_bar(bars.dates[t], bars.open[0, t], bars.close[0, t], bool(bars.valid[0, t]))
        if bars.valid[0, t]:
            closes.append(float(bars.close[0, t]))
    snap = a.snapshot()
    assert len(snap["features"]) < 64  # bounded: it does not grow with the session
    old = {"symbol": snap["symbol"], "state": snap["state"], "closes": closes, "t": snap["t"]}  # the earlier format
    b, c = AdaptiveRSIStrategy.restore(snap, cfg), AdaptiveRSIStrategy.restore(old, cfg)
    assert c.snapshot() == snap
    batch = StrategyBatch([AdaptiveRSIStrategy.restore(snap, cfg)])  # the loop's batched path, same numbers
    trades = 0
    for t in range(half, bars.n_bars):
        o, cl, v = bars.open[0, t], bars.close[0, t], bool(bars.valid[0, t])
        da, db, dc = (s.on_bar(bars.dates[t], o, cl, v) for s in (a, b, c))
        batch.on_bars(bars.open[:, t], bars.close[:, t], bars.valid[:, t])
        assert da == db == dc == batch.decision(0, np.datetime64(bars.dates[t], "D"))
        trades += da.trade_closed
    assert trades > 5 and a.snapshot() == batch.strategies[0].snapshot()
