"""Orders: codes shared by the compiled daily loop and the Python broker, client order ids, the
market-vs-limit rule, and the order object with its state history (queryable per order)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from numba import njit

SIDE_BUY, SIDE_SELL = 1, -1
MARKET, LIMIT = 0, 1
DAY, GTC = 0, 1
NEW, PARTIAL, FILLED, CANCELLED, REJECTED = 0, 1, 2, 3, 4
STATUS = ("new", "partially_filled", "filled", "cancelled", "rejected")
ORDER_TYPES = ("market", "limit")
TIFS = ("day", "gtc")
# why an order was placed (orders.csv `reason`; index = code: 0 entry, exits 1-3 = the loop's exit reason)
ORDER_REASONS = ("entry", "exit_signal", "stop_pct", "stop_vol")


def client_order_id(symbol: str, date: str, seq: int) -> str:
    """A stable client order id: same run, same id (symbol, creation date, sequence in the run)."""
    return f"AT-{symbol}-{date.replace('-', '')}-{seq:06d}"


@njit(cache=True)
def choose_order_type(urgent: bool, est_cost_bps: float, limit_above_bps: float) -> int:
    """MARKET or LIMIT: urgent orders (exits, stops) and cheap-to-cross entries go market.

    An entry whose estimated crossing cost (half spread + square-root impact, in bps) exceeds
    `limit_above_bps` is sent as a limit order at the signal price instead: it waits for the
    price rather than paying to cross a wide or thin book. Compiled: the portfolio loop calls this
    same function at order creation (docs/execution.md).
    """
    if urgent or not math.isfinite(est_cost_bps) or est_cost_bps <= limit_above_bps:
        return MARKET
    return LIMIT


@njit(cache=True)
def limit_price_fill(side: int, limit: float, open_t: float, high_t: float, low_t: float) -> float:
    """Fill price (before costs) of a limit order on a bar, NaN when the range does not reach the
    limit: at the open when the open is already through the limit, else at the limit when the low
    (buy) or high (sell) touches it. Shared by the daily loop and the intraday broker."""
    if side > 0:
        if open_t <= limit:
            return open_t
        return limit if low_t <= limit else math.nan
    if open_t >= limit:
        return open_t
    return limit if high_t >= limit else math.nan


@dataclass
class Order:
    """One order of the simulated broker: quantity in shares, fills accumulated, history kept."""

    order_id: str
    symbol: str
    side: int
    quantity: float
    order_type: int = MARKET
    limit_price: float = math.nan
    tif: int = DAY
    created: str = ""
    parent_id: str | None = None
    filled: float = 0.0
    cost: float = 0.0  # sum of fill qty x price
    status: int = NEW
    history: list[tuple[str, str, float]] = field(default_factory=list)  # (timestamp, status, filled)

    def __post_init__(self) -> None:
        if self.quantity <= 0 or not math.isfinite(self.quantity):
            raise ValueError(f"order {self.order_id}: quantity must be positive, got {self.quantity}")
        if self.order_type == LIMIT and not (self.limit_price > 0):
            raise ValueError(f"order {self.order_id}: a limit order needs a positive limit price")
        self.history.append((self.created, STATUS[NEW], 0.0))

    @property
    def remaining(self) -> float:
        """Shares still to fill (0 once filled, cancelled or rejected)."""
        return 0.0 if self.status in (FILLED, CANCELLED, REJECTED) else self.quantity - self.filled

    @property
    def avg_price(self) -> float:
        """Volume-weighted fill price (NaN before any fill)."""
        return self.cost / self.filled if self.filled > 0 else math.nan

    @property
    def active(self) -> bool:
        """New or partially filled."""
        return self.status in (NEW, PARTIAL)

    def fill(self, qty: float, price: float, ts: str) -> None:
        """Apply a fill of `qty` shares at `price`; moves to partially_filled or filled."""
        if not self.active:
            raise ValueError(f"order {self.order_id} is {STATUS[self.status]}: cannot fill")
        if qty <= 0 or qty > self.remaining + 1e-9:
            raise ValueError(f"order {self.order_id}: fill of {qty} exceeds the remaining {self.remaining}")
        self.filled += qty
        self.cost += qty * price
        self.status = FILLED if self.quantity - self.filled <= 1e-9 else PARTIAL
        self.history.append((ts, STATUS[self.status], self.filled))

    def cancel(self, ts: str) -> None:
        """Cancel what is left (no-op once done)."""
        if self.active:
            self.status = CANCELLED
            self.history.append((ts, STATUS[CANCELLED], self.filled))

    def reject(self, ts: str) -> None:
        """Reject an order that cannot be accepted."""
        if self.active:
            self.status = REJECTED
            self.history.append((ts, STATUS[REJECTED], self.filled))
