"""Live versus backtest on real data: the shipped sample (10 NASDAQ-100 stocks, ten years, adjusted prices)
fed bar by bar to a `StrategyEnsemble` (each member computes its features from its own history) takes the
same trades as the compiled backtest, and `signals()` reports exactly the backtest's signals each bar.

Not a wiring test: the live path computes RSI and volatility from its growing history every bar, the
backtest once over the whole array, and they meet only in the compiled `step`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.kernel import T_ENTRY_PRICE, T_ENTRY_T, T_EXIT_PRICE, T_EXIT_T, T_PNL, T_RETURN, T_SHARES, T_SYMBOL
from adaptrade.data.archive import load_archive
from adaptrade.data.sample import SAMPLE_SYMBOLS
from adaptrade.strategy import StrategyEnsemble
from adaptrade.strategy.params import StrategyConfig


def _live_trades(ens: StrategyEnsemble, bars, out) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]], int]:
    """Step the ensemble over every bar; returns (closed trades, open trades, signals seen) in the trade-table layout,
    asserting on the way that `signals()` equals the backtest's non-zero signals of that bar."""
    idx = {s: i for i, s in enumerate(bars.symbols)}
    entry: dict[str, tuple[int, float, float]] = {}
    closed, seen = [], 0
    for t in range(bars.n_bars):
        feed = {s: (bars.open[i, t], bars.close[i, t], bool(bars.valid[i, t])) for s, i in idx.items() if bars.valid[i, t]}
        decisions = ens.on_bars(bars.dates[t], feed)
        sig = ens.signals(decisions)
        if t < bars.n_bars - 1:  # the backtest never fills the last bar's signal; live has no last bar
            want = {s: int(out.signal[i, t]) for s, i in idx.items() if out.signal[i, t] != 0}
            assert sig == want, f"signals differ on {bars.dates[t]}"
            seen += len(sig)
        for d in decisions:
            if d.fill > 0:
                entry[d.symbol] = (t, d.fill_price, d.fill_shares)
            if d.trade_closed:
                e_t, e_px, sh = entry.pop(d.symbol)
                closed.append((idx[d.symbol], e_t, t, e_px, d.fill_price, sh, d.trade_pnl, d.trade_return))
    still = [(idx[s], e_t, -1.0, e_px, np.nan, sh) for s, (e_t, e_px, sh) in entry.items()]
    return closed, still, seen


def test_ensemble_bar_by_bar_takes_the_backtest_trades_on_the_shipped_sample(sample_dir: Path) -> None:
    cfg = StrategyConfig()
    bars, _ = load_archive(sample_dir, SAMPLE_SYMBOLS)
    bars = bars.adjusted()
    out = run_backtest(bars, cfg)
    closed, still, seen = _live_trades(StrategyEnsemble(bars.symbols, cfg), bars, out)
    tr = out.trades
    bt_closed = tr[tr[:, T_EXIT_T] >= 0]
    assert len(bt_closed) >= 50 and seen >= 100  # ten years of ten stocks: a real comparison
    cols = [T_SYMBOL, T_ENTRY_T, T_EXIT_T, T_ENTRY_PRICE, T_EXIT_PRICE, T_SHARES, T_PNL, T_RETURN]
    live = np.array(sorted(closed), dtype=np.float64)
    ref = bt_closed[:, cols][np.lexsort(bt_closed[:, cols][:, ::-1].T)]
    assert live.shape == ref.shape
    np.testing.assert_allclose(live, ref, rtol=1e-12, atol=0.0)
    # positions still open at the end: same stocks, entries and shares
    bt_open = tr[tr[:, T_EXIT_T] < 0][:, [T_SYMBOL, T_ENTRY_T, T_ENTRY_PRICE, T_SHARES]]
    lv_open = np.array(sorted((r[0], r[1], r[3], r[5]) for r in still)).reshape(-1, 4)
    np.testing.assert_allclose(lv_open, bt_open[np.argsort(bt_open[:, 0])], rtol=1e-12)
