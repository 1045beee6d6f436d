"""The `alpaca` broker: a thin adapter of the live loop's `Broker` interface on alpaca-py's TradingClient.

Orders: a share order is a market-on-open order (`opg`); a notional (all-in) buy is a `day` market
order, since Alpaca takes `notional` only with `day` (queued after the close, it executes at the
next open). Status comes from the trade-update stream (alpaca-py's TradingStream, in a thread, which
reconnects by itself) and from REST, the source of truth: a fill missed while the stream was down is
recovered by comparing each order's cumulative filled quantity with the fills recorded. The fill
ledger lives in `alpaca.json` beside the session, so cursors and client order ids survive a restart;
a client order id already sent is looked up at Alpaca, never posted again. Keys are SecretStr, never logged.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path
from typing import Any

import requests

from adaptrade.errors import ConfigError
from adaptrade.live.broker import OrderRequest
from adaptrade.live.state import FileLock, atomic_write_json, read_json

LEDGER = "alpaca.json"
OPEN = ("new", "accepted", "pending_new", "accepted_for_bidding", "partially_filled", "pending_cancel",
        "pending_replace", "held", "calculated", "done_for_day", "replaced")
STATUS = {"canceled": "cancelled", "new": "new", "accepted": "new", "pending_new": "new",
          "accepted_for_bidding": "new", "held": "new", "partially_filled": "partially_filled", "filled": "filled",
          "rejected": "rejected", "expired": "expired", "pending_cancel": "partially_filled"}


def _f(x: Any) -> float:
    return math.nan if x is None or x == "" else float(x)


def _val(x: Any) -> str:
    """An alpaca-py enum's wire value (or the string itself)."""
    return str(getattr(x, "value", x))


def order_dict(o: Any) -> dict[str, Any]:
    """An alpaca-py Order (or its JSON) as the loop's order record (status names of the sim broker)."""
    g = (lambda k: o.get(k)) if isinstance(o, dict) else (lambda k: getattr(o, k, None))
    status = _val(g("status"))
    side = _val(g("side"))
    return {"client_order_id": g("client_order_id"), "broker_order_id": str(g("id")), "symbol": g("symbol"),
            "side": 1 if side == "buy" else -1, "quantity": _f(g("qty")), "notional": _f(g("notional")),
            "time_in_force": _val(g("time_in_force")), "status": STATUS.get(status, status), "alpaca_status": status,
            "filled_quantity": _f(g("filled_qty")) if g("filled_qty") is not None else 0.0,
            "avg_fill_price": _f(g("filled_avg_price")), "last_update": str(g("updated_at"))}


def stop_stream(st: Any) -> None:
    """Stop an alpaca-py websocket stream running on its own thread's loop: signal stop, then close the
    socket so its receive does not wait out alpaca-py's 5 s poll (trading and market-data streams alike)."""
    if st is not None and st._loop is not None and st._loop.is_running():
        try:
            asyncio.run_coroutine_threadsafe(st.stop_ws(), st._loop).result(5)
            if st._ws is not None:
                asyncio.run_coroutine_threadsafe(st._ws.close(), st._loop).result(5)
        except (RuntimeError, TimeoutError, asyncio.CancelledError, AttributeError):
            pass

class AlpacaBroker:
    """The loop's broker on an Alpaca (paper) account, or on the loopback stand-in in the tests."""

    def __init__(self, folder: Path, settings: Any, stream: bool = True) -> None:
        from alpaca.trading.client import TradingClient

        if settings.alpaca_key_id is None or settings.alpaca_secret_key is None:
            raise ConfigError("--broker alpaca needs ADAPTRADE_ALPACA_KEY_ID and ADAPTRADE_ALPACA_SECRET_KEY "
                              "(an Alpaca paper account's keys)", field="alpaca_key_id")
        self._key, self._secret = settings.alpaca_key_id, settings.alpaca_secret_key
        self.client = TradingClient(self._key.get_secret_value(), self._secret.get_secret_value(), paper=True,
                                    url_override=settings.alpaca_trading_url or None)
        self.stream_url = settings.alpaca_stream_url or None
        self.clock_url = settings.alpaca_replay_clock_url
        self.fill_timeout = float(settings.alpaca_fill_timeout)
        self._http = requests.Session()
        self.path, self._lock = folder / LEDGER, folder / "alpaca.lock"
        self.stream_events = 0
        with FileLock(self._lock):
            if read_json(self.path) is None:
                atomic_write_json(self.path, {"orders": {}, "fills": [], "submissions": []})
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        if stream:
            self.start_stream()

    def __repr__(self) -> str:  # never the keys
        return f"AlpacaBroker(url={self.client._base_url!r})"

    # ---- the ledger: orders this session sent and the fills recorded for them ----
    def _record(self, book: dict[str, Any], rec: dict[str, Any]) -> None:
        """Fold an order's cumulative state into the ledger: a fill for any quantity not recorded yet."""
        cid = rec["client_order_id"]
        mine = book["orders"].get(cid)
        if mine is None:
            return  # not this session's order
        q, avg = rec["filled_quantity"], rec["avg_fill_price"]
        new = q - mine["recorded_qty"]
        if new > 1e-12 and math.isfinite(avg):
            price = avg if mine["recorded_qty"] == 0 else (avg * q - mine["recorded_notional"]) / new
            book["fills"].append({"order_id": cid, "symbol": rec["symbol"], "side": "buy" if rec["side"] > 0 else "sell",
                                  "quantity": new, "price": price, "timestamp": rec["last_update"], "commission": 0.0,
                                  "impact_bps": 0.0})
            mine["recorded_qty"], mine["recorded_notional"] = q, avg * q
        mine["status"] = rec["status"]

    def _update(self, rec: dict[str, Any]) -> None:
        with FileLock(self._lock):
            book = read_json(self.path)
            self._record(book, rec)
            atomic_write_json(self.path, book)

    def sweep(self) -> int:
        """Read every order of this session not yet final from REST and record what the stream missed."""
        with FileLock(self._lock):
            book = read_json(self.path)
            n = len(book["fills"])
            for cid, mine in book["orders"].items():
                if mine["status"] in ("filled", "cancelled", "rejected", "expired") and mine.get("swept"):
                    continue
                o = self._get(cid)
                if o is not None:
                    self._record(book, order_dict(o))
                    mine["swept"] = mine["status"] in ("filled", "cancelled", "rejected", "expired")
            atomic_write_json(self.path, book)
            return len(book["fills"]) - n

    # ---- the Broker interface ----
    def submit(self, order: OrderRequest) -> dict[str, Any]:
        """Send `order` once: an id this session already sent is looked up at Alpaca instead of re-sent."""
        from alpaca.common.exceptions import APIError
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        cid = order.client_order_id
        with FileLock(self._lock):
            book = read_json(self.path)
            if cid in book["orders"]:
                known = self._get(cid)
                if known is not None:
                    return {**order_dict(known), "duplicate": True}
            book["orders"].setdefault(cid, {"recorded_qty": 0.0, "recorded_notional": 0.0, "status": "pending",
                                            "created": order.created, "reason": order.reason})
            book["submissions"].append(cid)
            atomic_write_json(self.path, book)  # before the request: a crash after it must not send again
        share = order.quantity > 0
        req = MarketOrderRequest(symbol=order.symbol, side=OrderSide.BUY if order.side > 0 else OrderSide.SELL,
                                 qty=order.quantity if share else None,
                                 notional=None if share else (order.notional if order.notional > 0 else 0.0),
                                 time_in_force=TimeInForce.OPG if share else TimeInForce.DAY, client_order_id=cid)
        try:
            rec = order_dict(self.client.submit_order(req))
        except APIError as e:
            if e.status_code == 422 and "unique" in str(e.message).lower():
                known = self._get(cid)
                if known is not None:
                    return {**order_dict(known), "duplicate": True}
            rec = {**order_dict({"client_order_id": cid, "symbol": order.symbol, "side": "buy" if order.side > 0 else "sell",
                                 "qty": None if not share else order.quantity, "notional": None if share else order.notional,
                                 "status": "rejected"}), "reject_reason": f"{e.status_code}: {e.message}"}
        self._update(rec)
        return rec

    def _get(self, cid: str) -> Any:
        from alpaca.common.exceptions import APIError

        try:
            return self.client.get_order_by_client_id(cid)
        except APIError as e:
            if e.status_code == 404:
                return None
            raise

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """The order at Alpaca by client order id (None when Alpaca has none), folded into the ledger."""
        o = self._get(client_order_id)
        if o is None:
            book = read_json(self.path)
            mine = book["orders"].get(client_order_id)
            return {"client_order_id": client_order_id, "status": "rejected"} if mine and mine["status"] == "rejected" else None
        rec = order_dict(o)
        self._update(rec)
        return rec

    def cancel(self, client_order_id: str) -> None:
        from alpaca.common.exceptions import APIError

        o = self._get(client_order_id)
        if o is not None and _val(o.status) in OPEN:
            try:
                self.client.cancel_order_by_id(o.id)
            except APIError as e:
                if e.status_code != 422:  # 422: no longer cancelable (filled meanwhile)
                    raise

    def cancel_all(self) -> int:
        """The kill switch: cancel every open order of the account; returns how many."""
        return len(self.client.cancel_orders())

    def orders(self) -> list[dict[str, Any]]:
        """Every order this session sent, as Alpaca last reported it (for orders.csv), in sending order."""
        book = read_json(self.path)
        out = []
        for cid, mine in book["orders"].items():
            o = self._get(cid)
            rec = order_dict(o) if o is not None else {"client_order_id": cid, "symbol": "", "side": 0, "quantity": math.nan,
                                                       "notional": math.nan, "time_in_force": "", "status": mine["status"],
                                                       "filled_quantity": 0.0, "avg_fill_price": math.nan, "last_update": ""}
            q, avg = rec["filled_quantity"], rec["avg_fill_price"]
            out.append({**rec, "created": mine.get("created", ""), "reason": mine.get("reason", ""),
                        "filled_notional": q * avg if q > 0 else 0.0})
        return out

    def open_orders(self) -> list[dict[str, Any]]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        return [order_dict(o) for o in self.client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500))]

    def positions(self) -> dict[str, float]:
        return {p.symbol: float(p.qty) for p in self.client.get_all_positions() if float(p.qty) != 0.0}

    def account(self) -> dict[str, float]:
        a = self.client.get_account()
        return {"cash": _f(a.cash), "equity": _f(a.equity), "buying_power": _f(a.buying_power)}

    def fills_since(self, cursor: int) -> list[dict[str, Any]]:
        self.sweep()
        return read_json(self.path)["fills"][cursor:]

    def submissions(self) -> list[str]:
        """Every client order id this adapter posted or meant to post, in order."""
        return list(read_json(self.path)["submissions"])

    def on_open(self, date: str, symbols: tuple[str, ...], open_: Any, close: Any, valid: Any) -> None:
        """The session `date` opens. Against the stand-in with a replay feed, its replay clock is told
        to open that date; against Alpaca, open orders are awaited (up to `alpaca_fill_timeout`) until final."""
        if self.clock_url:  # the stand-in fills synchronously inside this request
            self._http.post(self.clock_url, json={"date": date}, timeout=30).raise_for_status()
            self.sweep()
            return
        deadline = time.monotonic() + self.fill_timeout
        while self.sweep() >= 0 and time.monotonic() < deadline:
            book = read_json(self.path)
            if not any(m["status"] in ("new", "partially_filled", "pending") for m in book["orders"].values()):
                return
            time.sleep(0.2)

    # ---- the trade-update stream ----
    def start_stream(self) -> None:
        """alpaca-py's TradingStream in a daemon thread; each update is folded into the ledger."""
        from alpaca.trading.stream import TradingStream

        self._stream = TradingStream(self._key.get_secret_value(), self._secret.get_secret_value(), paper=True,
                                     url_override=self.stream_url)

        async def on_update(tu: Any) -> None:
            self.stream_events += 1
            await asyncio.to_thread(self._update, order_dict(tu.order))

        self._stream.subscribe_trade_updates(on_update)
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-trade-updates", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the stream thread now (the process exiting does it too): signal stop, then close the socket
        so alpaca-py's receive does not wait out its 5 s poll."""
        stop_stream(self._stream)
        if self._thread is not None:
            self._thread.join(5)


def ledger_book(folder: Path) -> dict[str, Any] | None:
    """`paper status` without a network call: the alpaca session's last known orders and, from its
    recorded fills, positions (cash is Alpaca's and not known offline: NaN). None when no ledger."""
    book = read_json(folder / LEDGER)
    if book is None:
        return None
    pos: dict[str, float] = {}
    for f in book["fills"]:
        pos[f["symbol"]] = pos.get(f["symbol"], 0.0) + (1 if f["side"] == "buy" else -1) * f["quantity"]
    return {"cash": math.nan, "positions": {s: q for s, q in pos.items() if abs(q) > 1e-9},
            "orders": {c: {"client_order_id": c, "status": "new" if m["status"] == "pending" else m["status"]}
                       for c, m in book["orders"].items()}}
