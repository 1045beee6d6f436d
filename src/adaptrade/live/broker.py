"""The broker interface of paper trading and its `sim` adapter.

`Broker` is what the live loop needs from any broker: submit an order under a client order id,
cancel it, list open orders, positions, the account, and the fills since a cursor. `SimBroker`
implements it on the execution layer's `SimulatedBroker` (the one fill model): a daily strategy's
orders are market-on-open (`opg`) and fill at the next session's open with the backtest's
slippage and commission. Its book lives in a JSON file beside the session, so it outlives a
crash of the paper process the way a real broker would; every submit request is logged, also a
refused duplicate, so a test can prove no client order id was sent twice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adaptrade.execution.broker import SimulatedBroker
from adaptrade.execution.intraday import IntradayBars
from adaptrade.execution.orders import MARKET
from adaptrade.live.state import FileLock, atomic_write_json, read_json

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


class SimBroker:
    """The simulated broker: a file-backed book, filled at each session's open by `SimulatedBroker`."""

    def __init__(self, folder: Path, cash: float, commission_bps: float, slippage_bps: float,
                 whole_shares: bool = False) -> None:
        self.path = folder / "broker.json"
        self._lock = folder / "broker.lock"
        self.commission_bps = commission_bps
        self.slippage_bps = slippage_bps
        self.whole_shares = whole_shares
        with FileLock(self._lock):
            if read_json(self.path) is None:
                atomic_write_json(self.path, {"cash": cash, "positions": {}, "orders": {}, "fills": [],
                                              "submissions": [], "opened": []})

    # the book, read and written under the lock for every call (paper stop acts on it too)
    def _load(self) -> dict[str, Any]:
        return read_json(self.path)

    def _save(self, book: dict[str, Any]) -> None:
        atomic_write_json(self.path, book)

    def submit(self, order: OrderRequest) -> dict[str, Any]:
        """Accept an order; a client order id seen before is refused (and the attempt logged)."""
        with FileLock(self._lock):
            book = self._load()
            book["submissions"].append(order.client_order_id)
            known = book["orders"].get(order.client_order_id)
            if known is not None:
                self._save(book)
                return {**known, "duplicate": True}
            rec = {**asdict(order), "status": "new", "filled_quantity": 0.0, "filled_notional": 0.0,
                   "avg_fill_price": math.nan, "last_update": order.created + CLOSE_TIME}
            if not (order.quantity > 0 or order.notional > 0):
                rec["status"] = "rejected"
            book["orders"][order.client_order_id] = rec
            self._save(book)
            return rec

    def cancel(self, client_order_id: str) -> None:
        with FileLock(self._lock):
            book = self._load()
            rec = book["orders"].get(client_order_id)
            if rec is not None and rec["status"] in ("new", "partially_filled"):
                rec["status"] = "cancelled"
                self._save(book)

    def cancel_all(self) -> int:
        """Cancel every open order (the kill switch); returns how many."""
        n = 0
        with FileLock(self._lock):
            book = self._load()
            for rec in book["orders"].values():
                if rec["status"] in ("new", "partially_filled"):
                    rec["status"] = "cancelled"
                    n += 1
            self._save(book)
        return n

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        return self._load()["orders"].get(client_order_id)

    def orders(self) -> list[dict[str, Any]]:
        return list(self._load()["orders"].values())

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders() if o["status"] in ("new", "partially_filled")]

    def positions(self) -> dict[str, float]:
        return {s: q for s, q in self._load()["positions"].items() if q != 0.0}

    def account(self) -> dict[str, float]:
        return {"cash": float(self._load()["cash"])}

    def fills_since(self, cursor: int) -> list[dict[str, Any]]:
        return self._load()["fills"][cursor:]

    def submissions(self) -> list[str]:
        """Every client order id ever submitted, in order (duplicates included)."""
        return list(self._load()["submissions"])

    def on_open(self, date: str, symbols: tuple[str, ...], open_: np.ndarray, close: np.ndarray, valid: np.ndarray) -> None:
        """The session `date` opens: fill the open market-on-open orders of symbols that trade today.

        Idempotent per date (a restart replaying the same open fills nothing twice). Notional buys
        become shares at the open: notional / (open x (1 + slippage) x (1 + commission)), the backtest's
        all-in sizing; a symbol without a bar today keeps its order for its next session.
        """
        with FileLock(self._lock):
            book = self._load()
            if date in book["opened"]:
                return
            idx = {s: i for i, s in enumerate(symbols)}
            ts = date + OPEN_TIME
            changed = False
            sim = SimulatedBroker(commission_bps=self.commission_bps, slippage_bps=self.slippage_bps,
                                  participation=math.inf, impact_k=0.0, whole_shares=self.whole_shares)
            for cid, rec in book["orders"].items():
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
                    rec["status"] = "rejected"
                    rec["last_update"] = ts
                    continue
                bar = IntradayBars(np.array([ts]), np.array([base]), np.array([base]), np.array([base]),
                                   np.array([base]), np.array([math.inf]))
                sim.submit(rec["symbol"], int(rec["side"]), float(qty), ts, 0, MARKET)
                for f in sim.on_bar(rec["symbol"], 0, bar):
                    book["fills"].append({"order_id": cid, "symbol": f.symbol, "side": "buy" if f.side > 0 else "sell",
                                          "quantity": f.quantity, "price": f.price, "timestamp": f.timestamp,
                                          "commission": f.commission, "impact_bps": f.impact_bps})
                    pos = book["positions"].get(f.symbol, 0.0) + f.side * f.quantity
                    book["positions"][f.symbol] = 0.0 if abs(pos) < 1e-9 else pos
                    book["cash"] -= f.side * f.quantity * f.price + f.commission
                    rec["filled_quantity"] += f.quantity
                    rec["filled_notional"] += f.quantity * f.price
                if rec["filled_quantity"] > 0:
                    rec["status"] = "filled"
                    rec["avg_fill_price"] = rec["filled_notional"] / rec["filled_quantity"]
                    rec["last_update"] = ts
            if changed:  # nothing to fill: nothing to write (a rerun of this open is a no-op as well)
                book["opened"].append(date)
                self._save(book)
