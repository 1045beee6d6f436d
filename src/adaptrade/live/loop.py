"""The live loop of paper trading, per-stock mode: per session, the broker fills yesterday's orders
at the open; after the close each stock's `AdaptiveRSIStrategy` (the backtest's compiled `step`)
takes the bar; its signals become market-on-open orders for the next session. Everything is
persisted after every event (`state.json`), so a killed process restarts where it stopped,
reconciles with the broker by client order id and never sends an order twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptrade.errors import AdaptradeError
from adaptrade.execution.orders import client_order_id
from adaptrade.live.broker import OrderRequest, SimBroker
from adaptrade.live.feeds import ReplayFeed, SessionBars
from adaptrade.live.state import Lease, atomic_write_json, journal, read_json
from adaptrade.strategy.adaptive import AdaptiveRSIStrategy
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import (
    E_ENTRY_T,
    S_CASH,
    S_PENDING,
    S_SHARES,
)

STATE_FILE, KILL_FILE, JOURNAL_FILE = "state.json", "kill", "events.jsonl"


class LiveError(AdaptradeError):
    """The session and the broker disagree, or the session cannot go on as asked."""


def killed(folder: Path) -> bool:
    """True once `paper stop` has thrown the kill switch of the session in `folder`."""
    return (folder / KILL_FILE).exists()


class PaperLoop:
    """One paper session in `folder`: the feed, the strategies, the broker and the persisted state."""

    def __init__(self, folder: Path, feed: ReplayFeed, config: StrategyConfig, broker: SimBroker,
                 meta: dict[str, Any], event_delay: float = 0.0) -> None:
        if config.fill != "next_open":
            raise LiveError("paper trading fills at the next session's open: --fill close has no live equivalent", field="fill")
        self.folder, self.feed, self.config, self.broker = folder, feed, config, broker
        self.delay = event_delay
        # optional timing hook (benchmarks/paper_latency.py): called (session index, t_delivered, t_orders_sent)
        # in perf_counter seconds once a batch's orders are at the broker; None = off, one check per batch
        self.on_batch: Callable[[int, float, float], None] | None = None
        self.hooks: Any = None  # live/session_hooks.py: market-hours guard, /metrics, Redis stream (None = off)
        self.symbols = feed.bars.symbols
        self.path = folder / STATE_FILE
        doc = read_json(self.path)
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
        self.doc = doc
        self.strats = {s: AdaptiveRSIStrategy.restore(doc["strategies"][s], config) for s in self.symbols}

    # persistence: one atomic write per event, then the optional test pause (a crash point)
    def _persist(self, kind: str, **fields: Any) -> None:
        self.doc["strategies"] = {s: st.snapshot() for s, st in self.strats.items()}
        atomic_write_json(self.path, self.doc)
        journal(self.folder / JOURNAL_FILE, kind, **fields)
        if self.delay > 0:
            time.sleep(self.delay)

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
        for it in self.doc["intents"]:
            if it["status"] == "pending" and self.broker.order(it["client_order_id"]) is not None:
                it["status"] = "sent"
                self._persist("reconciled", client_order_id=it["client_order_id"])

    def run(self, lease: Lease) -> str:
        """Replay from the persisted cursor to the end; returns 'done' or 'killed'."""
        if self.doc["status"] == "killed" or killed(self.folder):
            raise LiveError("this session's kill switch is on: no new orders; start a new --session", field="session")
        self.reconcile()
        last_beat = 0.0
        for bars in self.feed.replay(self.doc["cursor"]):
            t_in = time.perf_counter() if self.on_batch is not None else 0.0
            if killed(self.folder):
                return self._kill()
            if self.doc["phase"] == "open":
                self._open(bars)
            if self.doc["phase"] == "close":
                for i, sym in enumerate(self.symbols):
                    self._step(i, sym, bars)
                self.doc["phase"] = "orders"
                if not any(it["status"] == "pending" for it in self.doc["intents"]):
                    self.doc.update(cursor=bars.index + 1, phase="open")
                self._persist("close", date=str(bars.date))  # the session's bars: one event, all stocks
            if self.doc["phase"] == "orders":
                if self.hooks is not None:
                    self.hooks.before_orders(self, bars)
                if not self._send_orders():
                    return self._kill()
                self.doc.update(cursor=bars.index + 1, phase="open")
                self._persist("session", date=str(bars.date))
            if self.on_batch is not None:
                self.on_batch(bars.index, t_in, time.perf_counter())
            if self.hooks is not None:
                self.hooks.after_batch(self, bars)
            if time.monotonic() - last_beat > 1.0:
                lease.beat(session_date=str(bars.date))
                last_beat = time.monotonic()
        if killed(self.folder):  # a live feed stops waiting when the kill switch is thrown
            return self._kill()
        self.doc["status"] = "done"
        self._persist("done")
        return "done"

    def _open(self, bars: SessionBars) -> None:
        """The broker fills at the open; new fills are recorded (a restart re-reads unrecorded ones by cursor)."""
        self.broker.on_open(str(bars.date), bars.symbols, bars.open, bars.close, bars.valid)
        new = self.broker.fills_since(self.doc["fill_cursor"])
        self.doc["phase"] = "close"
        if new:
            self.doc["fills"].extend(new)
            self.doc["fill_cursor"] += len(new)
            self._persist("open", date=str(bars.date), fills=len(new))

    def _step(self, i: int, sym: str, bars: SessionBars) -> None:
        """One stock's bar through the compiled step; its fill checked against the broker's, its trade,
        parameter changes and next order recorded (persisted with the session's other stocks)."""
        st, d = self.strats[sym], str(bars.date)
        valid = bool(bars.valid[i])
        dec = st.on_bar(bars.date, float(bars.open[i]), float(bars.close[i]), valid)
        doc = self.doc
        if valid:
            doc["valid_count"][sym] += 1
        if dec.fill != 0:
            self._check_fill(sym, dec.fill_price, dec.fill_shares)
            if dec.fill > 0:
                doc["entry_count"][sym] = doc["valid_count"][sym]
        if dec.trade_closed:
            doc["trades"][sym].append({
                "entry_date": self._entry_date(dec), "entry_price": dec.entry_price, "exit_date": d, "exit_price": dec.fill_price,
                "shares": dec.fill_shares, "pnl": dec.trade_pnl, "return": dec.trade_return,
                "bars_held": doc["valid_count"][sym] - doc["entry_count"][sym]})
        for c in dec.changes:
            doc["changes"][sym].append({"date": d, "parameter": c.parameter, "old_value": c.old_value,
                                        "new_value": c.new_value, "reason": c.reason})
        if st.state[S_PENDING] != 0.0:
            doc["seq"] += 1
            cid = client_order_id(sym, d, doc["seq"])
            buy = st.state[S_PENDING] > 0
            doc["intents"].append({"client_order_id": cid, "symbol": sym, "side": 1 if buy else -1,
                                   "quantity": math.nan if buy else float(st.state[S_SHARES]),
                                   "notional": float(st.state[S_CASH]) if buy else math.nan, "created": d,
                                   "reason": "entry" if buy else "exit_signal", "status": "pending"})
            doc["open_order"][sym] = cid

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
        self.doc["open_order"][sym] = None

    def _send_orders(self) -> bool:
        """Send every order not yet at the broker (looked up by client order id first); False when killed."""
        for it in self.doc["intents"]:
            if it["status"] != "pending":
                continue
            if killed(self.folder):
                return False
            cid = it["client_order_id"]
            if self.broker.order(cid) is None:
                journal(self.folder / JOURNAL_FILE, "submit", client_order_id=cid)
                self.broker.submit(OrderRequest(cid, it["symbol"], it["side"], it["quantity"], it["notional"],
                                                it["created"], it["reason"]))
                if self.delay > 0:  # a crash point between submission and its acknowledgement
                    time.sleep(self.delay)
            it["status"] = "sent"
            self._persist("ack", client_order_id=cid)
        return True

    def _kill(self) -> str:
        n = self.broker.cancel_all()
        self.doc["status"] = "killed"
        self._persist("killed", cancelled=n)
        return "killed"
