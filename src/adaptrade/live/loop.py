"""The live loop of paper trading, per-stock mode: per session, the broker fills yesterday's orders
at the open; after the close every stock's `AdaptiveRSIStrategy` (the backtest's compiled `step`,
all stocks in one compiled call) takes the bar; its signals become market-on-open orders for the
next session. Every event is persisted as one appended record of what it changed (`state.journal`
over the `state.json` snapshot, compacted between batches; live/journal.py), so a killed process
restarts where it stopped, reconciles with the broker by client order id and never sends an order twice.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from adaptrade.errors import AdaptradeError
from adaptrade.execution.orders import client_order_id
from adaptrade.live.broker import OrderRequest, SimBroker
from adaptrade.live.feeds import ReplayFeed, SessionBars
from adaptrade.live.journal import Journal, read_current
from adaptrade.live.state import Lease
from adaptrade.strategy.adaptive import AdaptiveRSIStrategy, StrategyBatch
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import (
    E_CLOSED,
    E_ENTRY_T,
    E_FILL,
    E_N_CHANGES,
    E_SIGNAL,
    S_CASH,
    S_PENDING,
    S_SHARES,
    S_SIGNAL_T,
)

STATE_FILE, KILL_FILE, JOURNAL_FILE = "state.json", "kill", "events.jsonl"
STATE_FORMAT = 2  # bounded strategy features + the journal; format 1 (a whole state.json per event) is read and converted


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(text: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()  # writable: the compiled step's usual array type


def current_state(folder: Path) -> dict[str, Any] | None:
    """The session's state as a reader sees it (`paper status`, the API): the snapshot plus the status,
    cursor and phase changes journaled after it; None when the folder holds no session."""
    snap, recs = read_current(folder, "state")
    if snap is None:
        return None
    for rec in recs:
        snap.update(rec.get("set", {}))
    return snap


class LiveError(AdaptradeError):
    """The session and the broker disagree, or the session cannot go on as asked."""


def killed(folder: Path) -> bool:
    """True once `paper stop` has thrown the kill switch of the session in `folder`."""
    return (folder / KILL_FILE).exists()


class PaperLoop:
    """One paper session in `folder`: the feed, the strategies, the broker and the persisted state."""

    def __init__(self, folder: Path, feed: ReplayFeed, config: StrategyConfig, broker: SimBroker,
                 meta: dict[str, Any], event_delay: float = 0.0, fsync: bool = True, compact_every: int = 64) -> None:
        if config.fill != "next_open":
            raise LiveError("paper trading fills at the next session's open: --fill close has no live equivalent", field="fill")
        self.folder, self.feed, self.config, self.broker = folder, feed, config, broker
        self.delay = event_delay
        self.compact_every = max(1, int(compact_every))
        # optional timing hook (benchmarks/paper_latency.py): called (session index, t_delivered, t_orders_sent)
        # in perf_counter seconds once a batch's orders are at the broker; None = off, one check per batch
        self.on_batch: Callable[[int, float, float], None] | None = None
        self.hooks: Any = None  # live/session_hooks.py: market-hours guard, /metrics, Redis stream (None = off)
        # optional store hook (live/session_store.py): called with the loop at every compaction, so the run store
        # trails the session by at most compact_every sessions and the per-batch path stays as it is; None = off
        self.recorder: Callable[[PaperLoop], None] | None = None
        self.symbols = feed.bars.symbols
        self.path = folder / STATE_FILE
        self.journal = Journal(folder, "state", fsync=fsync)
        self._flusher = ThreadPoolExecutor(1, thread_name_prefix="broker-flush")
        doc, recs = self.journal.load()
        convert = doc is None or doc.get("format") != STATE_FORMAT
        if doc is None:
            doc = {"meta": meta, "cursor": 0, "phase": "open", "seq": 0, "fill_cursor": 0,
                   "intents": [], "fills": [], "status": "running",
                   "strategies": {s: AdaptiveRSIStrategy(s, config).snapshot() for s in self.symbols},
                   "trades": {s: [] for s in self.symbols}, "changes": {s: [] for s in self.symbols},
                   "valid_count": {s: 0 for s in self.symbols}, "entry_count": {s: 0 for s in self.symbols},
                   "open_order": {s: None for s in self.symbols}}
        elif doc["meta"] != meta:
            diff = sorted(k for k in set(meta) | set(doc["meta"]) if meta.get(k) != doc["meta"].get(k))
            raise LiveError(f"session was started with other settings ({', '.join(diff)}); use a new --session",
                            field=diff[0] if diff else "session")
        snaps, counts = doc.pop("strategies"), doc.pop("valid_count")
        for key in ("gen", "format"):
            doc.pop(key, None)
        self.doc = doc
        self.strats = {s: AdaptiveRSIStrategy.restore(snaps[s], config) for s in self.symbols}
        self.batch = StrategyBatch([self.strats[s] for s in self.symbols])
        self.valid_n = np.array([int(counts[s]) for s in self.symbols], dtype=np.int64)  # valid bars per stock
        self._pending = [it for it in doc["intents"] if it["status"] == "pending"]
        self._events = os.open(folder / JOURNAL_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._batches = 0  # since the last compaction
        for rec in recs:
            self._replay(rec)
        if convert:  # a new session, or a format-1 state.json: write the current snapshot (and an empty journal)
            self.compact()

    # persistence: one appended record per event, the human-readable event line, then the optional test pause
    def _persist(self, rec: dict[str, Any], kind: str, **fields: Any) -> None:
        self.journal.append(rec)
        self._event(kind, **fields)
        if self.delay > 0:
            time.sleep(self.delay)

    def _event(self, kind: str, **fields: Any) -> None:
        """One line of `events.jsonl` (kind, time, fields), for `paper status`, tests and people."""
        os.write(self._events, (json.dumps({"event": kind, "at": time.time(), **fields}, default=str) + "\n").encode())

    def compact(self) -> None:
        """Fold the journals into new snapshots (`state.json`, the broker's): between batches, every
        `compact_every` sessions and at the end, so a restart replays at most that many sessions."""
        doc = {**self.doc, "format": STATE_FORMAT, "strategies": {s: st.snapshot() for s, st in self.strats.items()},
               "valid_count": {s: int(n) for s, n in zip(self.symbols, self.valid_n)}}
        self.journal.compact(doc)
        if hasattr(self.broker, "compact"):
            self.broker.compact()
        self._batches = 0
        if self.recorder is not None:
            self.recorder(self)

    def _replay(self, rec: dict[str, Any]) -> None:
        """Re-apply one journaled event after a restart (the close re-runs the strategies on its recorded bars)."""
        k = rec["k"]
        if k == "open":
            self.doc["fills"].extend(rec["fills"])
            self.doc["fill_cursor"] += len(rec["fills"])
        elif k == "close":
            n = len(self.symbols)
            o, c, v = _unb64(rec["o"], np.float64), _unb64(rec["c"], np.float64), _unb64(rec["v"], np.bool_)
            if o.shape != (n,) or c.shape != (n,) or v.shape != (n,):
                raise LiveError(f"{self.journal.path}: session {rec['date']} holds bars of another universe", field="symbols")
            cids = self._close(rec["date"], o, c, v, replay=True)
            if cids != rec["cids"]:
                raise LiveError(f"{self.journal.path}: replaying session {rec['date']} gives orders {cids}, the journal "
                                f"recorded {rec['cids']} (the strategy code changed under a running session?)", field="state")
        elif k == "ack":
            self._mark_sent(rec["cid"])
        elif k == "held":
            self._held(rec["cid"], rec["reason"])
        self.doc.update(rec.get("set", {}))

    def hold(self, cid: str, reason: str) -> None:
        """Keep a pending order from the broker (the market-hours guard): the strategy's signal is withdrawn,
        as if it had not signalled, and the record is journaled so a restart holds it again."""
        self._held(cid, reason)
        self._persist({"k": "held", "cid": cid, "reason": reason}, "held", client_order_id=cid, reason=reason)

    def _held(self, cid: str, reason: str) -> None:
        for j, it in enumerate(self._pending):
            if it["client_order_id"] == cid:
                it["status"], it["held_reason"] = "held", reason
                del self._pending[j]
                st = self.strats[it["symbol"]].state
                st[S_PENDING], st[S_SIGNAL_T] = 0.0, -1.0
                self.doc["open_order"][it["symbol"]] = None
                return
        raise LiveError(f"no pending order {cid} to hold", field="orders")

    def _mark_sent(self, cid: str) -> None:
        for j, it in enumerate(self._pending):
            if it["client_order_id"] == cid:
                it["status"] = "sent"
                del self._pending[j]
                return

    def reconcile(self) -> None:
        """Before trading again: the broker's positions equal the fills this session recorded plus any it has
        not read yet, and every order it meant to send is looked up at the broker by client order id."""
        held: dict[str, float] = {}
        for f in self.doc["fills"] + self.broker.fills_since(self.doc["fill_cursor"]):
            held[f["symbol"]] = held.get(f["symbol"], 0.0) + (1 if f["side"] == "buy" else -1) * f["quantity"]
        broker_pos = self.broker.positions()
        for s in set(held) | set(broker_pos):
            if abs(held.get(s, 0.0) - broker_pos.get(s, 0.0)) > 1e-6:
                raise LiveError(f"broker holds {broker_pos.get(s, 0.0)} {s}, the session's fills say {held.get(s, 0.0)}", field="positions")
        for it in list(self._pending):
            if self.broker.order(it["client_order_id"]) is not None:
                self._mark_sent(it["client_order_id"])
                self._persist({"k": "ack", "cid": it["client_order_id"]}, "reconciled", client_order_id=it["client_order_id"])

    def run(self, lease: Lease) -> str:
        """Replay from the persisted cursor to the end; returns 'done' or 'killed'."""
        if self.doc["status"] == "killed" or killed(self.folder):
            raise LiveError("this session's kill switch is on: no new orders; start a new --session", field="session")
        self.reconcile()
        last_beat = 0.0
        sync = getattr(self.broker, "sync", None)
        for bars in self.feed.replay(self.doc["cursor"]):
            t_in = time.perf_counter() if self.on_batch is not None else 0.0
            if killed(self.folder):
                return self._kill()
            if self.doc["phase"] == "open":
                self._open(bars)
            if self.doc["phase"] == "close":
                d = str(bars.date)
                cids = self._close(d, bars.open, bars.close, bars.valid)
                self.doc["phase"] = "orders"
                if not self._pending:
                    self.doc.update(cursor=bars.index + 1, phase="open")
                self._persist({"k": "close", "date": d, "o": _b64(bars.open), "c": _b64(bars.close),
                               "v": _b64(bars.valid.astype(np.bool_)), "cids": cids,
                               "set": {"cursor": self.doc["cursor"], "phase": self.doc["phase"]}},
                              "close", date=d)  # the session's bars: one event, all stocks
            if self.doc["phase"] == "orders":
                if self.hooks is not None:
                    self.hooks.before_orders(self, bars)
                if not self._send_orders():
                    return self._kill()
                self.doc.update(cursor=bars.index + 1, phase="open")
                self._persist({"k": "session", "set": {"cursor": self.doc["cursor"], "phase": "open"}},
                              "session", date=str(bars.date))
            # one fdatasync per batch (ADAPTRADE_PAPER_FSYNC) for each journal, the broker's on a thread beside
            # this one's: two flushes in parallel wait about as long as one (benchmarks/paper_latency.py)
            flushing = self._flusher.submit(sync) if sync is not None else None
            self.journal.sync()
            if flushing is not None:
                flushing.result()
            if self.on_batch is not None:
                self.on_batch(bars.index, t_in, time.perf_counter())
            if self.hooks is not None:
                self.hooks.after_batch(self, bars)
            self._batches += 1
            if self._batches >= self.compact_every:  # between batches: after this session's orders are out
                self.compact()
            if time.monotonic() - last_beat > 1.0:
                lease.beat(session_date=str(bars.date))
                last_beat = time.monotonic()
        if killed(self.folder):  # a live feed stops waiting when the kill switch is thrown
            return self._kill()
        self.doc["status"] = "done"
        self._persist({"k": "status", "set": {"status": "done"}}, "done")
        self.compact()
        return "done"

    def _open(self, bars: SessionBars) -> None:
        """The broker fills at the open; new fills are recorded (a restart re-reads unrecorded ones by cursor)."""
        self.broker.on_open(str(bars.date), bars.symbols, bars.open, bars.close, bars.valid)
        new = self.broker.fills_since(self.doc["fill_cursor"])
        self.doc["phase"] = "close"
        if new:
            self.doc["fills"].extend(new)
            self.doc["fill_cursor"] += len(new)
            self._persist({"k": "open", "fills": new, "set": {"phase": "close"}}, "open", date=str(bars.date), fills=len(new))

    def _close(self, d: str, open_: np.ndarray, close: np.ndarray, valid: np.ndarray, replay: bool = False) -> list[str]:
        """Every stock's bar through the compiled step in one call; then, for the stocks that filled, closed a
        trade, changed a parameter or signalled, the fill checked against the broker's (not when replaying the
        journal after a restart: it was checked when it happened), the trade, the changes and the next order
        recorded. Returns the client order ids of the new orders."""
        b = self.batch
        b.on_bars(open_, close, valid)
        self.valid_n += np.asarray(valid, dtype=np.bool_)
        ev, st = b.events, b.states
        # a new order only for a signal issued at this close: an order waiting through a halt is still at the broker
        ordered = (ev[:, E_SIGNAL] != 0.0) & (st[:, S_PENDING] != 0.0)
        active = np.flatnonzero((ev[:, E_FILL] != 0.0) | (ev[:, E_CLOSED] != 0.0) | (ev[:, E_N_CHANGES] != 0.0) | ordered)
        d64 = np.datetime64(d, "D")
        doc, cids = self.doc, []
        for i in active.tolist():
            sym = self.symbols[i]
            dec = b.decision(i, d64)
            if dec.fill != 0:
                if not replay:
                    self._check_fill(sym, dec.fill_price, dec.fill_shares)
                doc["open_order"][sym] = None
                if dec.fill > 0:
                    doc["entry_count"][sym] = int(self.valid_n[i])
            if dec.trade_closed:
                doc["trades"][sym].append({
                    "entry_date": self._entry_date(dec), "entry_price": dec.entry_price, "exit_date": d,
                    "exit_price": dec.fill_price, "shares": dec.fill_shares, "pnl": dec.trade_pnl,
                    "return": dec.trade_return, "bars_held": int(self.valid_n[i]) - doc["entry_count"][sym]})
            for c in dec.changes:
                doc["changes"][sym].append({"date": d, "parameter": c.parameter, "old_value": c.old_value,
                                            "new_value": c.new_value, "reason": c.reason})
            if ordered[i]:
                doc["seq"] += 1
                cid = client_order_id(sym, d, doc["seq"])
                buy = st[i, S_PENDING] > 0
                it = {"client_order_id": cid, "symbol": sym, "side": 1 if buy else -1,
                      "quantity": math.nan if buy else float(st[i, S_SHARES]),
                      "notional": float(st[i, S_CASH]) if buy else math.nan, "created": d,
                      "reason": "entry" if buy else "exit_signal", "status": "pending"}
                doc["intents"].append(it)
                self._pending.append(it)
                doc["open_order"][sym] = cid
                cids.append(cid)
        return cids

    def _entry_date(self, dec: Any) -> str:
        """The session of the closed trade's entry fill (the step's entry bar index is the session index)."""
        return str(self.feed.sessions[int(self.strats[dec.symbol]._event[E_ENTRY_T])])

    def _check_fill(self, sym: str, price: float, shares: float) -> None:
        """The strategy's own fill (the backtest's arithmetic) must be the broker's fill of its order."""
        cid = self.doc["open_order"][sym]
        rec = self.broker.order(cid) if cid else None
        if rec is None or rec["status"] != "filled":
            raise LiveError(f"{sym}: the strategy filled at the open but the broker has no fill for order {cid}", field="fills")
        if not (math.isclose(rec["avg_fill_price"], price, rel_tol=1e-12) and math.isclose(rec["filled_quantity"], shares, rel_tol=1e-9)):
            raise LiveError(f"{sym}: broker filled {rec['filled_quantity']} @ {rec['avg_fill_price']}, the strategy "
                            f"{shares} @ {price}", field="fills")

    def _send_orders(self) -> bool:
        """Send every order not yet at the broker (looked up by client order id first); False when killed."""
        while self._pending:
            it = self._pending[0]
            if killed(self.folder):
                return False
            cid = it["client_order_id"]
            if self.broker.order(cid) is None:
                self._event("submit", client_order_id=cid)
                self.broker.submit(OrderRequest(cid, it["symbol"], it["side"], it["quantity"], it["notional"],
                                                it["created"], it["reason"]))
                if self.delay > 0:  # a crash point between submission and its acknowledgement
                    time.sleep(self.delay)
            it["status"] = "sent"
            self._pending.pop(0)
            self._persist({"k": "ack", "cid": cid}, "ack", client_order_id=cid)
        return True

    def _kill(self) -> str:
        n = self.broker.cancel_all()
        self.doc["status"] = "killed"
        self._persist({"k": "status", "set": {"status": "killed"}}, "killed", cancelled=n)
        self.compact()
        return "killed"

    def close(self) -> None:
        """Release the journal's and the event log's file handles and the flush thread."""
        self._flusher.shutdown()
        self.journal.close()
        if self._events >= 0:
            os.close(self._events)
            self._events = -1
