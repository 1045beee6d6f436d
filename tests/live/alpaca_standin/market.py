"""The stand-in's book: orders, positions, cash and fills, as Alpaca's documented objects.

STAND-IN for Alpaca's service, not Alpaca: the JSON shapes follow Alpaca's documented Order,
Position, Account and trade-update schemas (as far as the adapter and alpaca-py's models use them),
and the rules it enforces are the documented ones the adapter depends on (unique client order id,
`qty` xor `notional`, notional only as a `day` market order, `opg` only with `qty`, no short sales
beyond the position, cash as buying power). Fills happen only when a test (or the replay clock)
opens a session; the fill price is the execution layer's fill model, so a replay matches a backtest.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

OPEN_STATUSES = ("new", "accepted", "pending_new", "partially_filled")


class Rejected(Exception):
    """An order refused at submission: HTTP status, Alpaca error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _num(x: float | None) -> str | None:
    return None if x is None else repr(float(x))


class StandinMarket:
    """Thread-safe state of the stand-in account; `publish` receives every trade update (dict)."""

    def __init__(self, cash: float = 100_000.0, commission_bps: float = 0.0, slippage_bps: float = 0.0,
                 symbols: tuple[str, ...] | None = None) -> None:
        self.lock = threading.RLock()
        self.cash = cash
        self.commission_bps, self.slippage_bps = commission_bps, slippage_bps
        self.symbols = set(symbols) if symbols else None
        self.orders: dict[str, dict[str, Any]] = {}  # id -> order JSON
        self.by_client: dict[str, str] = {}
        self.positions: dict[str, float] = {}
        self.cost: dict[str, float] = {}
        self.posted_client_ids: list[str] = []  # every POST /v2/orders, duplicates included
        self.reject_rules: dict[str, str] = {}  # symbol -> "http" | "stream"
        self.fill_fraction = 1.0
        self.sessions: dict[str, dict[str, tuple[float, float, bool]]] = {}  # date -> symbol -> (open, close, valid)
        self.opened: list[str] = []
        self.daily: dict[str, list[dict[str, Any]]] = {}  # symbol -> Alpaca bar JSON, for /v2/stocks/bars
        self.page_cap = 10_000  # bars per page (tests lower it to exercise next_page_token)
        self.publish: Callable[[dict[str, Any]], None] = lambda ev: None
        self.clock_now: datetime | None = None  # what GET /v2/clock says (None = the wall clock)

    # ---- orders ----
    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/orders: validate as Alpaca does, then accept (status `new`) or refuse."""
        with self.lock:
            cid = str(body.get("client_order_id") or uuid.uuid4())
            self.posted_client_ids.append(cid)
            if cid in self.by_client:
                raise Rejected(422, 40010001, "client_order_id must be unique")
            sym, side, typ, tif = body.get("symbol"), body.get("side"), body.get("type"), body.get("time_in_force")
            qty, notional = body.get("qty"), body.get("notional")
            if not sym or (self.symbols is not None and sym not in self.symbols):
                raise Rejected(422, 40010001, f"asset not found: {sym}")
            if side not in ("buy", "sell"):
                raise Rejected(422, 40010001, "invalid side")
            if typ != "market":
                raise Rejected(422, 40010001, "the stand-in supports market orders only")
            if (qty is None) == (notional is None):
                raise Rejected(422, 40010001, "qty or notional is required, not both")
            if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
                raise Rejected(422, 40010001, "invalid time_in_force")
            if notional is not None and tif != "day":
                raise Rejected(422, 40010001, "notional orders only with time_in_force day")
            q = float(qty) if qty is not None else None
            n = float(notional) if notional is not None else None
            if (q is not None and not q > 0) or (n is not None and not n > 0):
                raise Rejected(422, 40010001, "qty or notional must be > 0")
            if side == "sell":
                held = self.positions.get(sym, 0.0) - self._open_sell_qty(sym)
                if q is None or q > held + 1e-9:
                    raise Rejected(403, 40310000, f"insufficient qty available for order (requested: {q}, available: {held})")
            elif n is not None and n > self.cash + 1e-9:
                raise Rejected(403, 40310000, "insufficient buying power")
            if self.reject_rules.get(sym) == "http":
                raise Rejected(403, 40310000, "stand-in: rejected as the test asked")
            now = _now()
            oid = str(uuid.uuid4())
            order = {"id": oid, "client_order_id": cid, "created_at": now, "updated_at": now, "submitted_at": now,
                     "filled_at": None, "expired_at": None, "expires_at": None, "canceled_at": None, "failed_at": None,
                     "replaced_at": None, "replaced_by": None, "replaces": None, "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, sym)),
                     "symbol": sym, "asset_class": "us_equity", "notional": _num(n), "qty": _num(q), "filled_qty": "0",
                     "filled_avg_price": None, "order_class": "simple", "order_type": "market", "type": "market",
                     "side": side, "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
                     "time_in_force": tif, "limit_price": None, "stop_price": None, "status": "new",
                     "extended_hours": False, "legs": None, "trail_percent": None, "trail_price": None, "hwm": None}
            self.orders[oid] = order
            self.by_client[cid] = oid
            self._event("new", order)
            if self.reject_rules.get(sym) == "stream":
                order.update(status="rejected", failed_at=now, updated_at=now)
                self._event("rejected", order)
            return dict(order)

    def _open_sell_qty(self, sym: str) -> float:
        return sum(float(o["qty"]) - float(o["filled_qty"]) for o in self.orders.values()
                   if o["symbol"] == sym and o["side"] == "sell" and o["status"] in OPEN_STATUSES and o["qty"])

    def get(self, oid: str) -> dict[str, Any] | None:
        with self.lock:
            o = self.orders.get(oid)
            return dict(o) if o else None

    def by_client_id(self, cid: str) -> dict[str, Any] | None:
        with self.lock:
            oid = self.by_client.get(cid)
            return self.get(oid) if oid else None

    def list(self, status: str = "open", limit: int = 50, symbols: set[str] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = [dict(o) for o in self.orders.values()
                   if (status == "all" or (status == "open") == (o["status"] in OPEN_STATUSES))
                   and (not symbols or o["symbol"] in symbols)]
        out.sort(key=lambda o: o["submitted_at"], reverse=True)
        return out[:limit]

    def cancel(self, oid: str) -> int:
        """DELETE /v2/orders/{id}: 204, 404 unknown, 422 not cancelable (already filled, cancelled, ...)."""
        with self.lock:
            o = self.orders.get(oid)
            if o is None:
                return 404
            if o["status"] not in OPEN_STATUSES:
                return 422
            now = _now()
            o.update(status="canceled", canceled_at=now, updated_at=now)
            self._event("canceled", o)
            return 204

    def cancel_all(self) -> list[dict[str, Any]]:
        with self.lock:
            ids = [oid for oid, o in self.orders.items() if o["status"] in OPEN_STATUSES]
            return [{"id": oid, "status": self.cancel(oid)} for oid in ids]

    # ---- the market: fills ----
    def fill(self, oid: str, price: float, qty: float | None = None, commission: float = 0.0,
             want: float | None = None) -> dict[str, Any]:
        """Execute (part of) an open order at `price` (`want`: its full size in shares, for notional
        orders sized by the fill model); emits `fill` or `partial_fill`."""
        with self.lock:
            o = self.orders[oid]
            if o["status"] not in OPEN_STATUSES:
                raise ValueError(f"order {oid} is {o['status']}")
            done = float(o["filled_qty"])
            if want is None:
                want = float(o["qty"]) if o["qty"] else float(o["notional"]) / price
            q = want - done if qty is None else min(qty, want - done)
            sign = 1.0 if o["side"] == "buy" else -1.0
            avg = float(o["filled_avg_price"] or 0.0)
            total = done + q
            o["filled_avg_price"] = _num(price if done == 0 else (avg * done + price * q) / total)
            o["filled_qty"] = _num(total)
            full = total >= want * (1 - 1e-12)
            now = _now()
            o.update(status="filled" if full else "partially_filled", updated_at=now, filled_at=now if full else None)
            pos = self.positions.get(o["symbol"], 0.0) + sign * q
            self.cost[o["symbol"]] = self.cost.get(o["symbol"], 0.0) + sign * q * price
            self.positions[o["symbol"]] = 0.0 if abs(pos) < 1e-9 else pos
            if self.positions[o["symbol"]] == 0.0:
                self.positions.pop(o["symbol"])
                self.cost.pop(o["symbol"], None)
            self.cash -= sign * q * price + commission
            self._event("fill" if full else "partial_fill", o, price=price, qty=q, position_qty=self.positions.get(o["symbol"], 0.0))
            return dict(o)

    def open_session(self, date: str) -> int:
        """The replay clock opens `date`: every open order of a symbol trading that day fills at the open
        with the execution layer's model (slippage, commission, notional sizing); idempotent per date."""
        from adaptrade.execution.broker import SimulatedBroker
        from adaptrade.execution.intraday import IntradayBars
        from adaptrade.execution.orders import MARKET
        import numpy as np

        with self.lock:
            if date in self.opened:
                return 0
            self.opened.append(date)
            bars = self.sessions.get(date, {})
            n = 0
            sim = SimulatedBroker(commission_bps=self.commission_bps, slippage_bps=self.slippage_bps,
                                  participation=math.inf, impact_k=0.0, whole_shares=False)
            for oid, o in list(self.orders.items()):
                if o["status"] not in ("new", "accepted") or o["symbol"] not in bars:
                    continue
                op, cl, valid = bars[o["symbol"]]
                if not valid:
                    continue
                base = op if (math.isfinite(op) and op > 0) else cl
                side = 1 if o["side"] == "buy" else -1
                if o["qty"]:
                    qty = float(o["qty"])
                else:
                    qty = float(o["notional"]) / (base * (1 + self.slippage_bps / 1e4) * (1 + self.commission_bps / 1e4))
                target = qty
                qty *= self.fill_fraction
                ts = date + "T09:30:00"
                bar = IntradayBars(np.array([ts]), np.array([base]), np.array([base]), np.array([base]),
                                   np.array([base]), np.array([math.inf]))
                sim.submit(o["symbol"], side, float(qty), ts, 0, MARKET)
                for f in sim.on_bar(o["symbol"], 0, bar):
                    self.fill(oid, f.price, f.quantity, f.commission, want=target)
                    n += 1
            return n

    def _event(self, event: str, order: dict[str, Any], **extra: Any) -> None:
        ev: dict[str, Any] = {"event": event, "timestamp": _now(), "order": dict(order)}
        if "price" in extra:
            ev.update(price=_num(extra["price"]), qty=_num(extra["qty"]), position_qty=_num(extra["position_qty"]),
                      execution_id=str(uuid.uuid4()))
        self.publish(ev)

    # ---- account ----
    def position_json(self, sym: str, last: float | None = None) -> dict[str, Any]:
        q = self.positions[sym]
        avg = self.cost[sym] / q
        px = last if last is not None else avg
        return {"asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, sym)), "symbol": sym, "exchange": "NASDAQ",
                "asset_class": "us_equity", "asset_marginable": False, "avg_entry_price": _num(avg), "qty": _num(q),
                "qty_available": _num(q - self._open_sell_qty(sym)), "side": "long" if q > 0 else "short",
                "market_value": _num(q * px), "cost_basis": _num(self.cost[sym]), "unrealized_pl": _num(q * (px - avg)),
                "unrealized_plpc": _num((px - avg) / avg if avg else 0.0), "current_price": _num(px)}

    def account_json(self) -> dict[str, Any]:
        with self.lock:
            mv = sum(self.cost.values())
            return {"id": "11111111-2222-3333-4444-555555555555", "account_number": "PASTANDIN", "status": "ACTIVE",
                    "crypto_status": "INACTIVE", "currency": "USD", "cash": _num(self.cash), "buying_power": _num(self.cash),
                    "regt_buying_power": _num(self.cash), "non_marginable_buying_power": _num(self.cash),
                    "portfolio_value": _num(self.cash + mv), "equity": _num(self.cash + mv), "last_equity": _num(self.cash + mv),
                    "long_market_value": _num(mv), "short_market_value": "0", "pattern_day_trader": False,
                    "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
                    "trade_suspended_by_user": False, "multiplier": "1", "shorting_enabled": False,
                    "created_at": "2024-01-02T00:00:00Z"}
