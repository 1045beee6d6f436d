"""Run the fixed RSI next-open strategy in adaptrade and its peers, on one OHLC DataFrame each.

Shared by `tests/backtest/test_peers.py` (agreement on real data) and
`benchmarks/backtest_peers.py` (agreement + speed on synthetic data).

Conventions every runner follows (the issue's "peer agreement" contract):
  * RSI = talib.RSI(close, period): first value at index `period`, simple-mean seed;
  * at bar t's close: flat and RSI[t] < buy -> buy; long and RSI[t] > sell -> sell (strict);
  * the order fills at open[t+1]; a signal on the last bar is never filled;
  * all-in, whole shares: shares = floor(cash / open[t+1]); zero commission and slippage;
  * long only, one position at a time, proceeds go back to cash.

Every runner returns a *normalised trade list*: a DataFrame with columns
`entry_date, entry_price, exit_date, exit_price, shares` (one row per round trip, in entry
order; an open trade at the end has NaT / NaN exit fields).

`first_signal_bar` (backtesting.py emulation): signals before that bar index are ignored.
backtesting.py calls `Strategy.next` first at bar `1 + first valid indicator index`, i.e. one
bar after the RSI's first value; `backtesting_trades(..., realign=True)` undoes that by giving
the indicator a neutral value (50, which can never signal) one bar before its first real value.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numba
import numpy as np
import pandas as pd

TRADE_COLUMNS = ["entry_date", "entry_price", "exit_date", "exit_price", "shares"]
REPO = Path(__file__).resolve().parents[1]
INITIAL_CASH = 100_000.0


# ----------------------------------------------------------------------------- data


def real_data_root() -> Path | None:
    """The shared real-data root (ADAPTRADE_DATA_DIR, else ../shared/data next to the repo), if present."""
    env = os.environ.get("ADAPTRADE_DATA_DIR")
    cand = Path(env) if env else REPO.parent / "shared" / "data"  # an explicit setting wins, even if missing
    return cand if (cand / "ohlcv" / "daily").is_dir() else None


SAMPLE_DIR = REPO / "src" / "adaptrade" / "resources" / "sample"


def load_daily(symbol: str, start: str | None = None, end: str | None = None) -> pd.DataFrame | None:
    """Raw (split-, not dividend-adjusted) daily OHLCV of `symbol` between start and end inclusive.

    Reads the shared data, else the shipped sample; None when neither has the symbol.
    """
    root = real_data_root()
    paths = []
    if root is not None:
        paths += [root / "ohlcv" / "daily" / f"{symbol}.csv.gz", root / "ohlcv" / "daily_extended" / f"{symbol}.csv.gz"]
    paths += [SAMPLE_DIR / f"{symbol}.csv.gz", SAMPLE_DIR / f"{symbol}.csv"]
    for p in paths:
        if p.is_file():
            df = pd.read_csv(p, parse_dates=["date"]).set_index("date").sort_index()
            df = df.loc[start:end, ["open", "high", "low", "close", "volume"]].astype(np.float64)
            return df
    return None


def data_source_description() -> str:
    root = real_data_root()
    return str(root) if root is not None else f"shipped sample {SAMPLE_DIR}"


def bars_to_frames(bars, symbols: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """`Bars` -> {symbol: OHLCV DataFrame of its valid bars} (the peers' input form)."""
    syms = list(bars.symbols if symbols is None else symbols)
    return {s: bars.to_frame(s)[["open", "high", "low", "close", "volume"]] for s in syms}


# ----------------------------------------------------------------------------- helpers


def empty_trades() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entry_date": pd.Series([], dtype="datetime64[ns]"),
            "entry_price": pd.Series([], dtype=np.float64),
            "exit_date": pd.Series([], dtype="datetime64[ns]"),
            "exit_price": pd.Series([], dtype=np.float64),
            "shares": pd.Series([], dtype=np.float64),
        }
    )


def normalise(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (entry_date, entry_price, exit_date|None, exit_price|nan, shares) -> trade list."""
    if not rows:
        return empty_trades()
    df = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    df["entry_date"] = pd.to_datetime(df["entry_date"]).astype("datetime64[ns]")
    df["exit_date"] = pd.to_datetime(df["exit_date"]).astype("datetime64[ns]")
    for c in ("entry_price", "exit_price", "shares"):
        df[c] = df[c].astype(np.float64)
    return df.sort_values("entry_date", kind="stable").reset_index(drop=True)


def closed(trades: pd.DataFrame) -> pd.DataFrame:
    return trades[trades["exit_date"].notna()].reset_index(drop=True)


def open_trades(trades: pd.DataFrame) -> pd.DataFrame:
    return trades[trades["exit_date"].isna()].reset_index(drop=True)


def compare_trades(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-9, names: tuple[str, str] = ("a", "b")) -> list[str]:
    """Differences between two trade lists (empty list: equal trade for trade).

    Dates and shares must be equal exactly, prices to `rtol` relative.
    """
    out: list[str] = []
    na, nb = names
    n = min(len(a), len(b))
    for i in range(n):
        ra, rb = a.iloc[i], b.iloc[i]
        bad = []
        for c in ("entry_date", "exit_date"):
            va, vb = ra[c], rb[c]
            if not ((pd.isna(va) and pd.isna(vb)) or va == vb):
                bad.append(f"{c} {va} != {vb}")
        for c in ("entry_price", "exit_price"):
            va, vb = float(ra[c]), float(rb[c])
            if not ((math.isnan(va) and math.isnan(vb)) or abs(va - vb) <= rtol * max(abs(va), abs(vb))):
                bad.append(f"{c} {va!r} != {vb!r}")
        if float(ra["shares"]) != float(rb["shares"]):
            bad.append(f"shares {ra['shares']!r} != {rb['shares']!r}")
        if bad:
            out.append(f"trade {i} ({na} vs {nb}): " + "; ".join(bad))
            break  # later trades follow from the first difference
    if len(a) != len(b) and not out:
        longer, name = (a, na) if len(a) > len(b) else (b, nb)
        out.append(f"trade count {len(a)} ({na}) != {len(b)} ({nb}); first extra in {name}: {longer.iloc[n].to_dict()}")
    return out


def talib_rsi(close: np.ndarray, period: int) -> np.ndarray:
    import talib

    return talib.RSI(np.ascontiguousarray(close, dtype=np.float64), timeperiod=period)


# ----------------------------------------------------------------------------- adaptrade


def adaptrade_config(period: int, buy: float, sell: float, kind: str = "fixed", cash: float = INITIAL_CASH):
    """The contract's config: `--fill next_open --commission-bps 0 --slippage-bps 0 --whole-shares`."""
    from adaptrade.strategy.params import StrategyConfig

    return StrategyConfig(
        kind=kind,
        rsi_period=period,
        buy=buy,
        sell=sell,
        commission_bps=0.0,
        slippage_bps=0.0,
        whole_shares=True,
        fill="next_open",
        initial_cash=cash,
    )


def adaptrade_trades_multi(
    frames: dict[str, pd.DataFrame],
    period: int,
    buy: float,
    sell: float,
    cash: float = INITIAL_CASH,
    first_signal_bar: int | None = None,
) -> dict[str, pd.DataFrame]:
    """adaptrade (run_backtest + build_result) on several symbols at once -> {symbol: trade list}.

    `first_signal_bar`: the RSI column read by the strategy is set to NaN on each symbol's valid
    bars before that index (the engine never signals on NaN), emulating a later start.
    """
    from adaptrade.backtest.engine import Features, run_backtest
    from adaptrade.backtest.results import build_result
    from adaptrade.data.bars import Bars
    from adaptrade.strategy.params import PERIOD_MIN

    bars = Bars.from_frames(frames)
    config = adaptrade_config(period, buy, sell, cash=cash)
    feats = Features.compute(bars)
    if first_signal_bar is not None:
        rsi = feats.rsi.copy()
        for i in range(bars.n_symbols):
            pos = np.flatnonzero(bars.valid[i])[:first_signal_bar]
            rsi[i, period - PERIOD_MIN, pos] = np.nan
        feats = Features(rsi=rsi, vol=feats.vol)
    out = run_backtest(bars, config, feats)
    res = build_result(out, None, "SPY")
    tr = res.trades
    result = {}
    for sym in bars.symbols:
        t = tr[tr["symbol"] == sym]
        result[sym] = normalise(
            list(zip(t["entry_date"], t["entry_price"], t["exit_date"], t["exit_price"], t["shares"]))
        )
    return result


def adaptrade_trades(df: pd.DataFrame, period: int, buy: float, sell: float, cash: float = INITIAL_CASH, first_signal_bar: int | None = None) -> pd.DataFrame:
    return adaptrade_trades_multi({"X": df}, period, buy, sell, cash, first_signal_bar)["X"]


# ----------------------------------------------------------------------------- bare numba reference / ceiling


@numba.njit(cache=True)
def bare_fixed_loop(open_, rsi, buy, sell, cash0, first_signal_bar, out_trades):
    """The fixed strategy as a bare compiled loop over one [t] series (the speed ceiling).

    out_trades[k] = (entry_t, entry_price, exit_t, exit_price, shares); exit_t = -1 if open.
    Returns the number of trades.
    """
    n = open_.shape[0]
    cash = cash0
    shares = 0.0
    pending = 0
    k = 0
    for t in range(n):
        if pending == 1:
            px = open_[t]
            sh = math.floor(cash / px)
            if sh > 0.0:
                cash -= sh * px
                shares = sh
                out_trades[k, 0] = t
                out_trades[k, 1] = px
                out_trades[k, 2] = -1.0
                out_trades[k, 3] = np.nan
                out_trades[k, 4] = sh
            pending = 0
        elif pending == -1:
            px = open_[t]
            cash += shares * px
            out_trades[k, 2] = t
            out_trades[k, 3] = px
            k += 1
            shares = 0.0
            pending = 0
        r = rsi[t]
        if t >= first_signal_bar and t < n - 1:
            if shares == 0.0 and r < buy:
                pending = 1
            elif shares > 0.0 and r > sell:
                pending = -1
    if shares > 0.0:
        k += 1
    return k


@numba.njit(cache=True)
def bare_fixed_many(open_, close, rsi, buy, sell, cash0, equity, trades):
    """The fixed strategy over the rows of [symbol, t] arrays: equity at every close and trade
    records (symbol, entry_t, entry_price, exit_t, exit_price, shares; exit_t = -1 if open).

    This is the speed ceiling: the same outputs as the engine's fixed mode, nothing else.
    Returns the number of trade rows (rows past the buffer are counted, not written).
    """
    n_sym, n = open_.shape
    cap = trades.shape[0]
    k = 0
    for i in range(n_sym):
        cash = cash0
        shares = 0.0
        pending = 0
        for t in range(n):
            if pending == 1:
                px = open_[i, t]
                sh = math.floor(cash / px)
                if sh > 0.0:
                    cash -= sh * px
                    shares = sh
                    if k < cap:
                        trades[k, 0] = i
                        trades[k, 1] = t
                        trades[k, 2] = px
                        trades[k, 3] = -1.0
                        trades[k, 4] = np.nan
                        trades[k, 5] = sh
                pending = 0
            elif pending == -1:
                px = open_[i, t]
                cash += shares * px
                if k < cap:
                    trades[k, 3] = t
                    trades[k, 4] = px
                k += 1
                shares = 0.0
                pending = 0
            r = rsi[i, t]
            if t < n - 1:
                if shares == 0.0 and r < buy:
                    pending = 1
                elif shares > 0.0 and r > sell:
                    pending = -1
            equity[i, t] = cash + shares * close[i, t]
        if shares > 0.0:
            k += 1
    return k


@numba.njit(cache=True)
def bare_rsi_rows(close, period, out):
    """TA-Lib RSI (same operation order as adaptrade's) over every row of [symbol, t] (ceiling's indicator)."""
    n_sym, n = close.shape
    inv = 1.0 / period
    pm1 = float(period - 1)
    for i in range(n_sym):
        for t in range(min(period, n)):
            out[i, t] = np.nan
        if n <= period:
            continue
        g = 0.0
        l = 0.0
        for t in range(1, period + 1):
            d = close[i, t] - close[i, t - 1]
            if d < 0.0:
                l -= d
            else:
                g += d
        g *= inv
        l *= inv
        tot = g + l
        out[i, period] = 100.0 * (g / tot) if tot != 0.0 else 0.0
        for t in range(period + 1, n):
            d = close[i, t] - close[i, t - 1]
            g *= pm1
            l *= pm1
            if d < 0.0:
                l -= d
            else:
                g += d
            g *= inv
            l *= inv
            tot = g + l
            out[i, t] = 100.0 * (g / tot) if tot != 0.0 else 0.0
    return out


def reference_trades(df: pd.DataFrame, period: int, buy: float, sell: float, cash: float = INITIAL_CASH, first_signal_bar: int = 0) -> pd.DataFrame:
    """The bare numba loop on one symbol (talib RSI), as a trade list."""
    o = np.ascontiguousarray(df["open"].to_numpy(np.float64))
    rsi = talib_rsi(df["close"].to_numpy(np.float64), period)
    buf = np.zeros((len(o) // 2 + 2, 5))
    k = bare_fixed_loop(o, rsi, float(buy), float(sell), float(cash), int(first_signal_bar), buf)
    idx = df.index
    rows = []
    for e_t, e_px, x_t, x_px, sh in buf[:k]:
        rows.append((idx[int(e_t)], e_px, idx[int(x_t)] if x_t >= 0 else pd.NaT, x_px, sh))
    return normalise(rows)


# ----------------------------------------------------------------------------- vectorbt


def vectorbt_signals(df: pd.DataFrame, period: int, buy: float, sell: float):
    """Entries/exits at the *fill* bar: the raw RSI signal at t shifted to t+1 (fills at open[t+1])."""
    rsi = pd.Series(talib_rsi(df["close"].to_numpy(np.float64), period), index=df.index)
    entries = (rsi < buy).shift(1, fill_value=False)
    exits = (rsi > sell).shift(1, fill_value=False)
    return entries, exits


def vectorbt_portfolio(close: pd.DataFrame, open_: pd.DataFrame, entries: pd.DataFrame, exits: pd.DataFrame, cash: float = INITIAL_CASH):
    """vbt.Portfolio.from_signals at the next open, all-in whole shares, zero costs (columns = symbols)."""
    import vectorbt as vbt

    return vbt.Portfolio.from_signals(
        close=close,
        entries=entries,
        exits=exits,
        price=open_,
        size=np.inf,
        size_type="amount",
        size_granularity=1.0,
        direction="longonly",
        accumulate=False,
        init_cash=cash,
        fees=0.0,
        fixed_fees=0.0,
        slippage=0.0,
        freq="1D",
    )


def vectorbt_trades_from_portfolio(pf, index: pd.Index) -> dict[str, pd.DataFrame]:
    rec = pf.trades.values  # structured array: col, size, entry_idx, entry_price, exit_idx, exit_price, status ...
    cols = list(pf.wrapper.columns)
    out: dict[str, list] = {c: [] for c in cols}
    for r in rec:
        is_open = int(r["status"]) == 0
        out[cols[int(r["col"])]].append(
            (
                index[int(r["entry_idx"])],
                float(r["entry_price"]),
                pd.NaT if is_open else index[int(r["exit_idx"])],
                np.nan if is_open else float(r["exit_price"]),
                float(r["size"]),
            )
        )
    return {c: normalise(v) for c, v in out.items()}


def vectorbt_trades(df: pd.DataFrame, period: int, buy: float, sell: float, cash: float = INITIAL_CASH) -> pd.DataFrame:
    entries, exits = vectorbt_signals(df, period, buy, sell)
    pf = vectorbt_portfolio(df[["close"]], df[["open"]].rename(columns={"open": "close"}), entries.to_frame("close"), exits.to_frame("close"), cash)
    return vectorbt_trades_from_portfolio(pf, df.index)["close"]


# ----------------------------------------------------------------------------- backtrader


def backtrader_trades(df: pd.DataFrame, period: int, buy: float, sell: float, cash: float = INITIAL_CASH) -> pd.DataFrame:
    """backtrader, cheat-on-open: decide in next() at bar t, order in next_open() of t+1 (fills at that open)."""
    import backtrader as bt

    class RsiData(bt.feeds.PandasData):
        lines = ("rsi",)
        params = (("rsi", -1), ("openinterest", None))

    class Rsi(bt.Strategy):
        params = (("buy", buy), ("sell", sell), ("period", period))

        def __init__(self):
            self.want = 0
            self.fills = []
            self.rsi = self.data.rsi  # precomputed talib.RSI line: no minperiod, next() runs from bar 0

        def next(self):
            r = self.rsi[0]
            if self.position.size == 0 and r < self.p.buy:
                self.want = 1
            elif self.position.size > 0 and r > self.p.sell:
                self.want = -1

        def next_open(self):
            if self.want > 0:
                self.buy(size=math.floor(self.broker.getcash() / self.data.open[0]))
            elif self.want < 0:
                self.close()
            self.want = 0

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fills.append((bt.num2date(order.executed.dt).date(), order.executed.price, order.executed.size))
            elif order.status in (order.Margin, order.Rejected, order.Canceled):
                raise RuntimeError(f"backtrader order not filled: {order.getstatusname()}")

    feed_df = df[["open", "high", "low", "close", "volume"]].copy()
    feed_df["rsi"] = talib_rsi(df["close"].to_numpy(np.float64), period)
    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    cerebro.adddata(RsiData(dataname=feed_df))
    cerebro.addstrategy(Rsi)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=0.0)
    cerebro.broker.set_coc(False)
    cerebro.broker.set_coo(True)
    strat = cerebro.run()[0]
    rows = []
    cur = None
    for d, px, size in strat.fills:
        if size > 0:
            cur = [pd.Timestamp(d), px, None, np.nan, size]
        else:
            cur[2], cur[3] = pd.Timestamp(d), px
            rows.append(tuple(cur))
            cur = None
    if cur is not None:
        rows.append((cur[0], cur[1], pd.NaT, np.nan, cur[4]))
    return normalise(rows)


# ----------------------------------------------------------------------------- backtesting.py


def backtesting_trades(df: pd.DataFrame, period: int, buy: float, sell: float, cash: float = INITIAL_CASH, realign: bool = False) -> pd.DataFrame:
    """backtesting.py: buy() (all available cash, whole shares) / position.close(), filled at the next open.

    realign=True gives the RSI indicator a neutral 50 one bar before its first value, so that
    backtesting.py's first `next` call falls on the RSI's first value (as in the other engines).
    """
    import backtesting.backtesting as _btpy
    import talib
    from backtesting import Backtest, Strategy

    _btpy._tqdm = lambda seq, **_: seq  # no progress bar (stderr noise and a little time)

    def rsi_fn(close, p, shift_start):
        r = talib.RSI(np.asarray(close, dtype=np.float64), timeperiod=p)
        if shift_start and len(r) > p:
            r[p - 1] = 50.0  # neutral: 50 < buy is False and 50 > sell is False for any buy < 50 < sell
        return r

    b, s = float(buy), float(sell)
    if realign and not (b < 50.0 < s):
        raise ValueError("realign needs buy < 50 < sell")

    class Rsi(Strategy):
        def init(self):
            self.rsi = self.I(rsi_fn, self.data.Close, period, realign, name="RSI")

        def next(self):
            r = self.rsi[-1]
            if not self.position and r < b:
                self.buy()
            elif self.position and r > s:
                self.position.close()

    data = df.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt_ = Backtest(data, Rsi, cash=cash, commission=0.0, margin=1.0, trade_on_close=False, exclusive_orders=False, finalize_trades=False)
        stats = bt_.run()
    rows = []
    for _, t in stats._trades.iterrows():
        rows.append((t["EntryTime"], t["EntryPrice"], t["ExitTime"], t["ExitPrice"], t["Size"]))
    # trades still open at the end are not in _trades unless finalized: read them from the strategy
    for t in stats._strategy.trades:
        rows.append((t.entry_time, t.entry_price, pd.NaT, np.nan, t.size))
    return normalise(rows)


def trades_from_records(rec: np.ndarray, symbols: Sequence[str], index: pd.Index) -> dict[str, pd.DataFrame]:
    """Rows (symbol, entry_t, entry_price, exit_t, exit_price, shares) -> {symbol: trade list}."""
    rows: dict[str, list] = {s: [] for s in symbols}
    for sym_i, e_t, e_px, x_t, x_px, sh in rec:
        rows[symbols[int(sym_i)]].append(
            (index[int(e_t)], e_px, index[int(x_t)] if x_t >= 0 else pd.NaT, x_px if x_t >= 0 else np.nan, sh)
        )
    return {s: normalise(r) for s, r in rows.items()}


def adaptrade_output_trades(output) -> dict[str, pd.DataFrame]:
    """An EngineOutput's trade buffer -> {symbol: trade list} (no build_result needed)."""
    from adaptrade.backtest.kernel import T_ENTRY_PRICE, T_ENTRY_T, T_EXIT_PRICE, T_EXIT_T, T_SHARES, T_SYMBOL

    tr = output.trades
    rec = tr[:, [T_SYMBOL, T_ENTRY_T, T_ENTRY_PRICE, T_EXIT_T, T_EXIT_PRICE, T_SHARES]]
    return trades_from_records(rec, list(output.bars.symbols), pd.DatetimeIndex(output.bars.dates))
