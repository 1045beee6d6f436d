"""The live loop of paper trading, portfolio mode: one account for every stock, session by session through
the backtest's compiled portfolio bar (`portfolio.kernel.portfolio_bar`: the execution layer's fills, the
risk rules, the drawdown breaker, the same strategy step). With `--broker sim` the broker is that bar's own
order book (market and limit orders, participation limits, partial fills), so a replay equals the backtest.
The account arrays are persisted after every session (`portfolio.npz`, written atomically), so a killed
process restarts at the session it had not finished and repeats nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from adaptrade.backtest.engine import initial_states
from adaptrade.backtest.kernel import CHANGE_LOG_FIELDS
from adaptrade.data.bars import Bars
from adaptrade.execution.orders import STATUS, client_order_id
from adaptrade.live.feeds import ReplayFeed
from adaptrade.live.loop import JOURNAL_FILE, STATE_FILE, LiveError, killed
from adaptrade.live.state import Lease, atomic_write_json, journal, read_json
from adaptrade.portfolio.engine import CURVES, PortfolioFeatures, PortfolioOutput
from adaptrade.portfolio.fills import BOOK_CASH, BOOK_SIZE
from adaptrade.portfolio.kernel import portfolio_bar, portfolio_finish, portfolio_start
from adaptrade.portfolio.layout import (
    ACT_FIELDS, ACT_ID, FILL_FIELDS, HIST_FIELDS, N_CHANGES, N_COUNTERS, N_EVENTS, N_FILLS, N_HIST, N_ORDERS,
    N_TRADES, O_CREATED_T, O_STATUS, O_SYM, ORDER_FIELDS, POS_AVG_LOSS, POS_AVG_WIN, POS_FIELDS, POS_LAST_CLOSE, POS_SHARES,
    PTRADE_FIELDS, RISK_EVENT_FIELDS,
)
from adaptrade.portfolio.orders import cancel
from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import ACCOUNT_SIZE
from adaptrade.strategy.params import P_RSI_ROW0, PERIODS, StrategyConfig

ARRAYS_FILE = "portfolio.npz"
_BUFFERS = {"orders": (N_ORDERS, ORDER_FIELDS), "fills": (N_FILLS, FILL_FIELDS), "hist": (N_HIST, HIST_FIELDS),
            "trades": (N_TRADES, PTRADE_FIELDS), "changes": (N_CHANGES, CHANGE_LOG_FIELDS), "events": (N_EVENTS, RISK_EVENT_FIELDS)}


def _prefix(bars: Bars, t: int) -> Bars:
    """The bars known after session t's close (columns 0..t): what the features of bar t may read."""
    cut = {k: getattr(bars, k)[..., : t + 1] for k in ("open", "high", "low", "close", "volume", "valid")}
    return dataclasses.replace(bars, dates=bars.dates[: t + 1], adj_close=None, **cut)


class PortfolioPaperLoop:
    """One portfolio-mode paper session in `folder`: the feed, the account arrays, the persisted cursor."""

    def __init__(self, folder: Path, feed: ReplayFeed, config: StrategyConfig, limits: RiskLimits,
                 meta: dict[str, Any], event_delay: float = 0.0, compact_every: int = 64) -> None:
        if config.fill != "next_open":
            raise LiveError("portfolio mode fills orders from the next bar on; --fill close has no live equivalent", field="fill")
        if config.kind == "fixed" and not PERIODS[0] <= config.rsi_period <= PERIODS[-1]:
            raise LiveError(f"paper portfolio mode reads RSI {PERIODS[0]}..{PERIODS[-1]}; RSI({config.rsi_period}) is not built", field="rsi_period")
        self.folder, self.feed, self.config, self.limits, self.delay = folder, feed, config, limits, event_delay
        self.bars = feed.bars
        self.symbols = self.bars.symbols
        self.T = self.bars.n_bars
        self.params, self.risk = config.to_vector(), limits.to_vector()
        self.hooks: Any = None  # live/session_hooks.py: /metrics and the Redis stream (None = off)
        # optional store hook (live/session_store.py): every `compact_every` sessions and at the end (None = off)
        self.recorder: Callable[[PortfolioPaperLoop], None] | None = None
        self.compact_every = max(1, int(compact_every))
        self.params[P_RSI_ROW0] = 0
        doc = read_json(folder / STATE_FILE)
        if doc is None:
            doc = {"meta": meta, "cursor": 0, "status": "running", "mode": "portfolio"}
        elif doc["meta"] != meta:
            diff = sorted(k for k in set(meta) | set(doc["meta"]) if meta.get(k) != doc["meta"].get(k))
            raise LiveError(f"session was started with other settings ({', '.join(diff)}); use a new --session",
                            field=diff[0] if diff else "session")
        self.doc = doc
        saved = folder / ARRAYS_FILE
        self.a: dict[str, np.ndarray] = self._fresh()
        if saved.exists():  # the arrays carry their own cursor: a kill before state.json caught up repeats nothing
            with np.load(saved) as z:
                self.a = {k: z[k] for k in z.files if k not in ("cursor", "done")}
                doc["cursor"] = int(z["cursor"])
                if bool(z["done"]) and doc["status"] == "running":
                    doc["status"] = "done"

    def _fresh(self) -> dict[str, np.ndarray]:
        n, T = self.bars.n_symbols, self.T
        pos = np.zeros((n, POS_FIELDS))
        pos[:, POS_LAST_CLOSE] = np.nan
        pos[:, POS_AVG_WIN] = np.nan
        pos[:, POS_AVG_LOSS] = np.nan
        act = np.zeros((n, ACT_FIELDS))
        act[:, ACT_ID] = -1.0
        a = {"states": initial_states(n, self.config), "pos": pos, "act": act, "book": np.zeros(BOOK_SIZE),
             "acct": np.zeros(ACCOUNT_SIZE), "curves": np.zeros((len(CURVES), T)), "pnl": np.zeros((n, T)),
             "in_market": np.zeros((n, T), dtype=np.bool_), "signal": np.zeros((n, T), dtype=np.int8),
             "counts": np.zeros(N_COUNTERS)}
        for name, (_, width) in _BUFFERS.items():
            a[name] = np.zeros((max(64, 8 * n), width))
        portfolio_start(self.risk, a["book"], a["acct"])
        return a

    def _room(self) -> None:
        """Every record buffer keeps room for the worst one session can add (grown by doubling, never cut)."""
        need = 16 * self.bars.n_symbols + 16
        for name, (ctr, _) in _BUFFERS.items():
            buf, used = self.a[name], int(self.a["counts"][ctr])
            if buf.shape[0] - used < need:
                grown = np.zeros((max(2 * buf.shape[0], used + need), buf.shape[1]))
                grown[: buf.shape[0]] = buf
                self.a[name] = grown

    def _persist(self, kind: str, **fields: Any) -> None:
        """The account arrays, then the cursor (a kill between the two repeats nothing: the arrays carry their own)."""
        tmp = self.folder / f".{ARRAYS_FILE}.{os.getpid()}.tmp.npz"
        np.savez(tmp, cursor=np.array(self.doc["cursor"]), done=np.array(self.doc["status"] == "done"), **self.a)
        os.replace(tmp, self.folder / ARRAYS_FILE)
        atomic_write_json(self.folder / STATE_FILE, self.doc)
        atomic_write_json(self.folder / "broker.json", self.book())
        journal(self.folder / JOURNAL_FILE, kind, **fields)
        if self.delay > 0:
            time.sleep(self.delay)

    def run(self, lease: Lease) -> str:
        """Replay from the persisted cursor to the end; returns 'done' or 'killed'."""
        if self.doc["status"] == "killed" or killed(self.folder):
            raise LiveError("this session's kill switch is on: no new orders; start a new --session", field="session")
        if self.doc["status"] == "done":
            self._record()  # a kill after the last session's state, before its store write
            return "done"
        a, b = self.a, self.bars
        ohlcv = [np.ascontiguousarray(x, dtype=np.float64) for x in (b.open, b.high, b.low, b.close, b.volume)]
        valid = np.ascontiguousarray(b.valid)
        last_beat = 0.0
        for t in range(self.doc["cursor"], self.T):
            if killed(self.folder):
                return self._kill()
            feats = PortfolioFeatures.compute(_prefix(b, t))  # past-only, from the bars seen so far
            self._room()
            portfolio_bar(t, self.T, *ohlcv, valid, feats.base.rsi, feats.base.vol, feats.adv, feats.spread, feats.ret,
                          self.params, self.risk, a["states"], a["pos"], a["act"], a["book"], a["acct"], a["curves"],
                          a["pnl"], a["in_market"], a["signal"], a["orders"], a["fills"], a["hist"], a["trades"],
                          a["changes"], a["events"], a["counts"])
            self.doc["cursor"] = t + 1
            if t == self.T - 1:
                portfolio_finish(self.T, ohlcv[3], a["states"], a["pos"], a["act"], a["book"], a["orders"], a["hist"],
                                 a["trades"], a["counts"])
                self.doc["status"] = "done"
            self._persist("session", date=str(b.dates[t]), orders=int(a["counts"][N_ORDERS]), fills=int(a["counts"][N_FILLS]))
            if self.hooks is not None:
                self.hooks.after_portfolio_session(self, t)
            if self.doc["status"] == "done" or (t + 1) % self.compact_every == 0:
                self._record()
            if time.monotonic() - last_beat > 1.0:
                lease.beat(session_date=str(b.dates[t]))
                last_beat = time.monotonic()
        if self.doc["status"] != "done":  # an empty replay
            self.doc["status"] = "done"
            self._persist("done")
            self._record()
        return "done"

    def _record(self) -> None:
        if self.recorder is not None:
            self.recorder(self)

    def _kill(self) -> str:
        """The kill switch: cancel every working order in the account's book, then stop (no new orders)."""
        a, n = self.a, 0
        t = max(self.doc["cursor"] - 1, 0)
        for i in range(self.bars.n_symbols):
            if a["act"][i, ACT_ID] >= 0.0:
                cancel(a["act"][i], t, a["book"], a["orders"], a["hist"], a["counts"])
                n += 1
        self.doc["status"] = "killed"
        self._persist("killed", cancelled=n)
        self._record()
        return "killed"

    def book(self) -> dict[str, Any]:
        """The account as `paper status` reads it: cash, positions, orders by client order id."""
        a = self.a
        k = int(a["counts"][N_ORDERS])
        orders = {}
        for j in range(k):
            o = a["orders"][j]
            sym = self.symbols[int(o[O_SYM])]
            cid = client_order_id(sym, str(self.bars.dates[int(o[O_CREATED_T])]), j)
            orders[cid] = {"client_order_id": cid, "symbol": sym, "status": STATUS[int(o[O_STATUS])]}
        pos = {s: float(a["pos"][i, POS_SHARES]) for i, s in enumerate(self.symbols) if a["pos"][i, POS_SHARES] != 0.0}
        return {"cash": float(a["book"][BOOK_CASH]), "positions": pos, "orders": orders, "mode": "portfolio"}

    def output(self) -> PortfolioOutput:
        """The session as the backtest's raw output (what the backtest's result tables and files are built from)."""
        a, c = self.a, self.a["counts"]
        cut = {name: a[name][: int(c[ctr])].copy() for name, (ctr, _) in _BUFFERS.items()}
        feats = PortfolioFeatures.compute(self.bars)
        return PortfolioOutput(bars=self.bars, config=self.config, limits=self.limits, curves=a["curves"], pnl=a["pnl"],
                               in_market=a["in_market"], signal=a["signal"], orders=cut["orders"], fills=cut["fills"],
                               history=cut["hist"], trades=cut["trades"], changes=cut["changes"], events=cut["events"],
                               final_states=a["states"], features=feats)


def portfolio_frames(loop: PortfolioPaperLoop, loaded: Any, settings: Any) -> dict[str, Any]:
    """trades, params (timestamps, as the backtest stores them), orders, fills of the session so far, built from
    its arrays by the backtest's own result code (what --out writes and the store holds)."""
    from adaptrade.portfolio.results import build_portfolio_result

    pr = build_portfolio_result(loop.output(), loaded.benchmark_close, loaded.benchmark_symbol,
                                risk_free_rate=settings.risk_free_rate)
    return {"trades": pr.result.trades, "params": pr.result.params, "orders": pr.orders, "fills": pr.fills}


def write_portfolio_paper_outputs(loop: PortfolioPaperLoop, loaded: Any, settings: Any, out_dir: Path) -> list[Path]:
    """trades.csv, params.csv (the backtest's writers), orders.csv, fills.csv (portfolio mode's tables) into `out_dir`."""
    from adaptrade.reports.files import params_frame, trades_frame

    f = portfolio_frames(loop, loaded, settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in (("trades.csv", trades_frame(SimpleNamespace(trades=f["trades"]))),
                     ("params.csv", params_frame(SimpleNamespace(params=f["params"]))),
                     ("orders.csv", f["orders"]), ("fills.csv", f["fills"])):
        tmp = out_dir / f".{name}.tmp"
        df.to_csv(tmp, index=False)
        tmp.replace(out_dir / name)
        written.append(out_dir / name)
    return written


def run_portfolio_session(folder: Path, loaded: Any, cfg: StrategyConfig, settings: Any, meta: dict[str, Any],
                          speed: float, out: Path | None, session: str, console: Any, lease: Lease,
                          attach: Any = None, recorder: Any = None) -> str:
    """`paper run --mode portfolio`: the account limits from settings (as `backtest --mode portfolio`), the loop, the files."""
    limits = RiskLimits.from_settings(settings).with_(initial_cash=cfg.initial_cash)
    meta = {**meta, "risk": json.loads(json.dumps(limits.describe(), default=str))}  # as read back
    if settings.kelly_warmup_from:
        raise LiveError("paper portfolio mode starts Kelly from its own paper trades; --warmup-from is not built here",
                        field="kelly_warmup_from")
    loop = PortfolioPaperLoop(folder, ReplayFeed(loaded.bars, speed, str(settings.cache_dir)), cfg, limits, meta,
                              settings.paper_event_delay, settings.paper_compact_every)
    if attach is not None:  # the session hooks (live/session_setup.py)
        attach(loop)
    if recorder is not None and loop.doc["status"] != "killed" and not killed(folder):  # a killed session refuses below
        loop.recorder = recorder(loop)  # the run store (live/session_store.py): recorded running from here
    console.print(f"paper session '{session}' (portfolio mode: one account of {limits.initial_cash:,.0f}): "
                  f"{len(loop.symbols)} stocks, {meta['start']}..{meta['end']}, broker sim (the portfolio book), "
                  f"costs {cfg.commission_bps:g} bps commission + {cfg.slippage_bps:g} bps slippage per side")
    t0 = time.perf_counter()
    status = loop.run(lease)
    book = loop.book()
    console.print(f"session {status} after {time.perf_counter() - t0:.2f}s; cash {book['cash']:,.2f}; positions: {book['positions'] or 'none'}")
    if out is not None:
        write_portfolio_paper_outputs(loop, loaded, settings, out)
        console.print(f"wrote {out}/ (trades.csv, params.csv, orders.csv, fills.csv)")
    return status
