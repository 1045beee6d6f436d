"""The broker interface of paper trading and its `sim` adapter.

`Broker` is what the live loop needs from any broker: submit an order under a client order id,
cancel it, list open orders, positions, the account, and the fills since a cursor. `SimBroker`
implements it on the execution layer's `SimulatedBroker` (the one fill model): a daily strategy's
orders are market-on-open (`opg`) and fill at the next session's open with the backtest's
slippage and commission. Its book lives beside the session, so it outlives a crash of the paper
process the way a real broker would: kept in memory, persisted as one appended journal record per
change (`broker.journal`) over a periodically compacted snapshot (`broker.json`, live/journal.py),
never re-read whole per call. Every submit request is recorded, also a refused duplicate, so a test
can prove no client order id was sent twice.
"""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adaptrade.execution.broker import SimulatedBroker
from adaptrade.execution.intraday import IntradayBars
from adaptrade.execution.orders import MARKET
from adaptrade.live.journal import Journal, read_current

OPEN_TIME, CLOSE_TIME = "T09:30:00", "T16:00:00"


@dataclass(frozen=True)
class OrderRequest:
    """A market-on-open order: shares (`quantity`) or, for an all-in entry, cash (`notional`)."""

    client_order_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    quantity: float = math.nan
    notional: float = math.nan
    created: str = ""  # ISO date of the close it was decided at
    reason: str = "entry"
    time_in_force: str = "opg"


class Broker(Protocol):
    """What the live loop needs from a broker (sim, later alpaca)."""

    def submit(self, order: OrderRequest) -> dict[str, Any]: ...

    def cancel(self, client_order_id: str) -> None: ...

    def order(self, client_order_id: str) -> dict[str, Any] | None: ...

    def open_orders(self) -> list[dict[str, Any]]: ...

    def positions(self) -> dict[str, float]: ...

    def account(self) -> dict[str, float]: ...

    def fills_since(self, cursor: int) -> list[dict[str, Any]]: ...


OPEN_STATUSES = ("new", "partially_filled")


def _fresh_book(cash: float) -> dict[str, Any]:
    return {"cash": cash, "positions": {}, "orders": {}, "fills": [], "submissions": [], "opened": []}


def apply_record(book: dict[str, Any], rec: dict[str, Any]) -> None:
    """One journal record of the sim broker applied to its book (the only code that changes a book)."""
    op = rec["op"]
    if op == "submit":
        cid = rec["cid"]
        book["submissions"].append(cid)
        if cid not in book["orders"]:
            book["orders"][cid] = rec["order"]
    elif op == "cancel":
        for cid in rec["cids"]:
            o = book["orders"].get(cid)
            if o is not None and o["status"] in OPEN_STATUSES:
                o["status"] = "cancelled"
    elif op == "open":
        for f in rec["fills"]:
            book["fills"].append(f)
            side = 1 if f["side"] == "buy" else -1
            pos = book["positions"].get(f["symbol"], 0.0) + side * f["quantity"]
            book["positions"][f["symbol"]] = 0.0 if abs(pos) < 1e-9 else pos
            book["cash"] -= side * f["quantity"] * f["price"] + f["commission"]
            o = book["orders"][f["order_id"]]
            o["filled_quantity"] += f["quantity"]
            o["filled_notional"] += f["quantity"] * f["price"]
        for cid in rec["rejected"]:
            book["orders"][cid].update(status="rejected", last_update=rec["ts"])
        for cid in rec["filled"]:
            o = book["orders"][cid]
            o.update(status="filled", avg_fill_price=o["filled_notional"] / o["filled_quantity"], last_update=rec["ts"])
        book["opened"].append(rec["date"])
    else:
        raise ValueError(f"unknown sim broker journal record {op!r}")


def read_sim_book(folder: Path) -> dict[str, Any] | None:
    """The sim broker's current book as a reader sees it (snapshot plus journal), None when there is none."""
    snap, recs = read_current(folder, "broker")
    if snap is None:
        return None
    for rec in recs:
        apply_record(snap, rec)
    return snap


class SimBroker:
    """The simulated broker: an in-memory book persisted by appends, filled at each session's open by `SimulatedBroker`.

    Every call holds the book's file lock and first reads what another process (`paper stop`) appended
    since (one `stat` when nothing was), so the book is shared the way the earlier whole-file book was."""

    def __init__(self, folder: Path, cash: float, commission_bps: float, slippage_bps: float,
                 whole_shares: bool = False, fsync: bool = True) -> None:
        self.path = folder / "broker.json"
        self.commission_bps = commission_bps
        self.slippage_bps = slippage_bps
        self.whole_shares = whole_shares
        self._journal = Journal(folder, "broker", fsync=fsync)
        self._lock_fd = os.open(folder / "broker.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.book: dict[str, Any] = {}
        with self._locked(catch_up=False):
            self._reload(cash)

    @contextmanager
    def _locked(self, catch_up: bool = True) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            if catch_up:
                recs = self._journal.catch_up()
                if recs is None:
                    self._reload(0.0)
                else:
                    for rec in recs:
                        self._apply(rec)
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _reload(self, cash: float) -> None:
        snap, recs = self._journal.load()
        if snap is None:
            snap = _fresh_book(cash)
            self._journal.compact(snap)
        snap.pop("gen", None)
        self.book = snap
        self._open = {cid: None for cid, o in snap["orders"].items() if o["status"] in OPEN_STATUSES}
        self._opened = set(snap["opened"])
        for rec in recs:
            self._apply(rec)

    def _apply(self, rec: dict[str, Any]) -> None:
        apply_record(self.book, rec)
        orders = self.book["orders"]
        if rec["op"] == "submit":
            if orders[rec["cid"]]["status"] in OPEN_STATUSES:
                self._open.setdefault(rec["cid"], None)
        elif rec["op"] == "open":
            self._opened.add(rec["date"])
        for cid in rec.get("cids", ()) or [*rec.get("filled", ()), *rec.get("rejected", ())]:
            if orders[cid]["status"] not in OPEN_STATUSES:
                self._open.pop(cid, None)

    def _write(self, rec: dict[str, Any]) -> None:
        """Apply a change to the book and append it to the journal (under the lock)."""
        self._apply(rec)
        self._journal.append(rec)

    def submit(self, order: OrderRequest) -> dict[str, Any]:
        """Accept an order; a client order id seen before is refused (and the attempt recorded)."""
        with self._locked():
            known = self.book["orders"].get(order.client_order_id)
            if known is not None:
                self._write({"op": "submit", "cid": order.client_order_id, "order": None})
                return {**known, "duplicate": True}
            rec = {**asdict(order), "status": "new", "filled_quantity": 0.0, "filled_notional": 0.0,
                   "avg_fill_price": math.nan, "last_update": order.created + CLOSE_TIME}
            if not (order.quantity > 0 or order.notional > 0):
                rec["status"] = "rejected"
            self._write({"op": "submit", "cid": order.client_order_id, "order": rec})
            return dict(rec)

    def cancel(self, client_order_id: str) -> None:
        with self._locked():
            if client_order_id in self._open:
                self._write({"op": "cancel", "cids": [client_order_id]})
                self._journal.sync()

    def cancel_all(self) -> int:
        """Cancel every open order (the kill switch); returns how many."""
        with self._locked():
            cids = list(self._open)
            if cids:
                self._write({"op": "cancel", "cids": cids})
                self._journal.sync()
        return len(cids)

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        with self._locked():
            o = self.book["orders"].get(client_order_id)
            return None if o is None else dict(o)

    def orders(self) -> list[dict[str, Any]]:
        with self._locked():
            return [dict(o) for o in self.book["orders"].values()]

    def open_orders(self) -> list[dict[str, Any]]:
        with self._locked():
            return [dict(self.book["orders"][cid]) for cid in self._open]

    def positions(self) -> dict[str, float]:
        with self._locked():
            return {s: q for s, q in self.book["positions"].items() if q != 0.0}

    def account(self) -> dict[str, float]:
        with self._locked():
            return {"cash": float(self.book["cash"])}

    def fills_since(self, cursor: int) -> list[dict[str, Any]]:
        with self._locked():
            return [dict(f) for f in self.book["fills"][cursor:]]

    def submissions(self) -> list[str]:
        """Every client order id ever submitted, in order (duplicates included)."""
        with self._locked():
            return list(self.book["submissions"])

    def sync(self) -> None:
        """Flush the journal's appends to the disk (once per bar batch, from the loop)."""
        with self._locked(catch_up=False):
            self._journal.sync()

    def compact(self) -> None:
        """Fold the journal into a new `broker.json` snapshot and start an empty journal."""
        with self._locked():
            self._journal.compact(self.book)

    def close(self) -> None:
        self._journal.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def on_open(self, date: str, symbols: tuple[str, ...], open_: np.ndarray, close: np.ndarray, valid: np.ndarray) -> None:
        """The session `date` opens: fill the open market-on-open orders of symbols that trade today.

        Idempotent per date (a restart replaying the same open fills nothing twice). Notional buys
        become shares at the open: notional / (open x (1 + slippage) x (1 + commission)), the backtest's
        all-in sizing; a symbol without a bar today keeps its order for its next session.
        """
        with self._locked():
            if date in self._opened or not self._open:
                return
            idx = {s: i for i, s in enumerate(symbols)}
            ts = date + OPEN_TIME
            changed = False
            fills: list[dict[str, Any]] = []
            filled: list[str] = []
            rejected: list[str] = []
            sim = SimulatedBroker(commission_bps=self.commission_bps, slippage_bps=self.slippage_bps,
                                  participation=math.inf, impact_k=0.0, whole_shares=self.whole_shares)
            for cid in self._open:
                rec = self.book["orders"][cid]
                i = idx.get(rec["symbol"])
                if rec["status"] != "new" or i is None or not valid[i]:
                    continue
                o, c = float(open_[i]), float(close[i])
                base = o if (math.isfinite(o) and o > 0.0) else c  # the strategy step's rule
                qty = rec["quantity"]
                if rec["side"] > 0 and not (qty > 0):
                    unit = base * (1.0 + self.slippage_bps / 1e4) * (1.0 + self.commission_bps / 1e4)
                    qty = rec["notional"] / unit
                    if self.whole_shares:
                        qty = math.floor(qty)
                changed = True
                if not (qty > 0):
                    rejected.append(cid)
                    continue
                bar = IntradayBars(np.array([ts]), np.array([base]), np.array([base]), np.array([base]),
                                   np.array([base]), np.array([math.inf]))
                sim.submit(rec["symbol"], int(rec["side"]), float(qty), ts, 0, MARKET)
                got = 0.0
                for f in sim.on_bar(rec["symbol"], 0, bar):
                    fills.append({"order_id": cid, "symbol": f.symbol, "side": "buy" if f.side > 0 else "sell",
                                  "quantity": f.quantity, "price": f.price, "timestamp": f.timestamp,
                                  "commission": f.commission, "impact_bps": f.impact_bps})
                    got += f.quantity
                if rec["filled_quantity"] + got > 0:
                    filled.append(cid)
            if changed:  # nothing to fill: nothing to write (a rerun of this open is a no-op as well)
                self._write({"op": "open", "date": date, "ts": ts, "fills": fills, "filled": filled, "rejected": rejected})
