"""Peer agreement on real data (issue contract).

In fixed mode with `--fill next_open --commission-bps 0 --slippage-bps 0 --whole-shares`, closed
trades match backtrader (cheat-on-open, shares = floor(cash / next open)) and vectorbt trade for
trade: entry and exit dates, prices (1e-9 relative) and shares (exact), for several symbols and
parameter sets. backtesting.py agrees too, except that it starts trading one bar after the
first valid RSI value; the backtesting.py tests show that this is the only difference.

Data: raw OHLC of /work/shared/data (ADAPTRADE_DATA_DIR or ../shared/data), else the shipped
sample; skipped when neither exists (a failure when CI=true). Runners: benchmarks/peers.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import peers  # noqa: E402

pytestmark = [pytest.mark.peers, pytest.mark.slow]

SYMBOLS = ("AAPL", "MSFT", "INTC", "CSCO", "PEP")
PARAMS = [(14, 30.0, 70.0), (10, 25.0, 75.0), (21, 35.0, 65.0), (12, 30.0, 70.0)]
START, END = "2014-03-10", "2024-03-08"
MIN_BARS = 300


def _ids(p):
    return f"rsi{p[0]}-{p[1]:g}-{p[2]:g}"


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    out = {}
    for sym in SYMBOLS:
        df = peers.load_daily(sym, START, END)
        if df is not None and len(df) >= MIN_BARS:
            out[sym] = df
    if len(out) < 2:
        msg = f"real data not found (shared data root or {peers.SAMPLE_DIR})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return out


@pytest.fixture(scope="module")
def adaptrade_runs(frames) -> dict[tuple, dict[str, pd.DataFrame]]:
    """One multi-symbol adaptrade run per parameter set (also exercises the [symbol, t] path)."""
    return {p: peers.adaptrade_trades_multi(frames, *p) for p in PARAMS}


def _assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, name: str, label: str) -> None:
    diff = peers.compare_trades(peers.closed(ours), peers.closed(theirs), names=("adaptrade", name))
    assert not diff, f"{label}: closed trades differ: {diff}"
    diff = peers.compare_trades(peers.open_trades(ours), peers.open_trades(theirs), names=("adaptrade", name))
    assert not diff, f"{label}: open trade at the end differs: {diff}"


def test_rsi_is_talib_bit_for_bit(frames):
    """The engine reads TA-Lib's RSI exactly (first value at index `period`), the peers' input."""
    from adaptrade.backtest.engine import Features
    from adaptrade.data.bars import Bars
    from adaptrade.strategy.params import PERIOD_MIN

    bars = Bars.from_frames(frames)
    feats = Features.compute(bars)
    for i, sym in enumerate(bars.symbols):
        close = frames[sym]["close"].to_numpy(np.float64)
        for period in sorted({p[0] for p in PARAMS}):
            ours = feats.rsi[i, period - PERIOD_MIN][bars.valid[i]]
            ref = peers.talib_rsi(close, period)
            assert np.isnan(ours[:period]).all() and np.isfinite(ours[period:]).all()
            np.testing.assert_array_equal(ours, ref, err_msg=f"{sym} RSI({period})")


def test_comparisons_are_not_vacuous(adaptrade_runs):
    n_closed = sum(len(peers.closed(t)) for runs in adaptrade_runs.values() for t in runs.values())
    assert n_closed >= 100, n_closed
    for p, runs in adaptrade_runs.items():
        assert sum(len(peers.closed(t)) for t in runs.values()) >= 10, p


@pytest.mark.parametrize("params", PARAMS, ids=_ids)
def test_vectorbt_agrees(frames, adaptrade_runs, params):
    period, buy, sell = params
    syms = list(frames)
    close = pd.DataFrame({s: frames[s]["close"] for s in syms})
    open_ = pd.DataFrame({s: frames[s]["open"] for s in syms})
    entries, exits = {}, {}
    for s in syms:
        entries[s], exits[s] = peers.vectorbt_signals(frames[s], period, buy, sell)
    assert close.notna().all().all(), "symbols must share one calendar here"
    pf = peers.vectorbt_portfolio(close, open_, pd.DataFrame(entries), pd.DataFrame(exits))
    theirs = peers.vectorbt_trades_from_portfolio(pf, close.index)
    for s in syms:
        _assert_same(adaptrade_runs[params][s], theirs[s], "vectorbt", f"{s} {_ids(params)}")


@pytest.mark.parametrize("params", PARAMS, ids=_ids)
def test_backtrader_agrees(frames, adaptrade_runs, params):
    for s, df in frames.items():
        theirs = peers.backtrader_trades(df, *params)
        _assert_same(adaptrade_runs[params][s], theirs, "backtrader", f"{s} {_ids(params)}")


@pytest.mark.parametrize("params", PARAMS, ids=_ids)
def test_backtesting_py_differs_only_by_its_later_start(frames, adaptrade_runs, params):
    """backtesting.py == adaptrade once the start is aligned, in either direction:

    * backtesting.py with its first `next` moved onto the RSI's first value == adaptrade;
    * plain backtesting.py == adaptrade with the signal on the RSI's first value suppressed.
    """
    period = params[0]
    for s, df in frames.items():
        label = f"{s} {_ids(params)}"
        realigned = peers.backtesting_trades(df, *params, realign=True)
        _assert_same(adaptrade_runs[params][s], realigned, "backtesting.py realigned", label)
        plain = peers.backtesting_trades(df, *params)
        late = peers.adaptrade_trades(df, *params, first_signal_bar=period + 1)
        _assert_same(late, plain, "backtesting.py", label)


def _window_with_first_rsi_signal(df: pd.DataFrame, period: int, buy: float, n_bars: int) -> pd.DataFrame | None:
    """A window of `n_bars` whose very first RSI value (index `period`) is a buy signal."""
    rsi_first = np.array(
        [peers.talib_rsi(df["close"].to_numpy()[k : k + period + 1], period)[period] for k in range(len(df) - n_bars)]
    )
    hits = np.flatnonzero(rsi_first < buy)
    return None if hits.size == 0 else df.iloc[hits[0] : hits[0] + n_bars]


def test_backtesting_py_start_difference_is_real(frames):
    """Where the RSI's first value is a buy signal, plain backtesting.py misses that trade (and
    what follows may shift), realigned backtesting.py and the other peers do not."""
    period, buy, sell = 14, 30.0, 70.0
    found = 0
    for s, df in frames.items():
        win = _window_with_first_rsi_signal(df, period, buy, 1500)
        if win is None:
            continue
        found += 1
        ours = peers.adaptrade_trades(win, period, buy, sell)
        assert ours["entry_date"].iloc[0] == win.index[period + 1]  # bought at the open after the first RSI value
        plain = peers.backtesting_trades(win, period, buy, sell)
        assert peers.compare_trades(ours, plain), f"{s}: expected plain backtesting.py to differ here"
        assert plain.empty or plain["entry_date"].iloc[0] > win.index[period + 1]
        _assert_same(ours, peers.backtesting_trades(win, period, buy, sell, realign=True), "backtesting.py realigned", s)
        _assert_same(ours, peers.vectorbt_trades(win, period, buy, sell), "vectorbt", s)
        _assert_same(ours, peers.backtrader_trades(win, period, buy, sell), "backtrader", s)
        _assert_same(peers.adaptrade_trades(win, period, buy, sell, first_signal_bar=period + 1), plain, "backtesting.py", s)
        if found == 2:
            break
    assert found, "no window whose first RSI value is below the buy threshold"


def test_union_calendar_and_missing_sessions_agree(frames):
    """adaptrade on a union calendar (one symbol starting years later, one with 60 sessions
    removed) == the peers on each symbol's own rows: invalid bars are skipped, not traded."""
    syms = list(frames)[:3]
    base = frames[syms[0]]
    late = frames[syms[1]].iloc[len(frames[syms[1]]) // 3 :]
    rng = np.random.default_rng(5)
    gappy = frames[syms[2]]
    gappy = gappy.drop(gappy.index[rng.choice(np.arange(30, len(gappy)), size=60, replace=False)])
    mix = {"BASE": base, "LATE": late, "GAPS": gappy}
    for params in PARAMS[:2]:
        ours = peers.adaptrade_trades_multi(mix, *params)
        for s, df in mix.items():
            label = f"{s} {_ids(params)}"
            _assert_same(ours[s], peers.vectorbt_trades(df, *params), "vectorbt", label)
            _assert_same(ours[s], peers.backtrader_trades(df, *params), "backtrader", label)
