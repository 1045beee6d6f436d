"""A simulated broker for intraday execution: accepts market/limit orders (day/GTC), fills them
against bars with a participation cap, slippage, commission and square-root impact, and keeps a
fill log and every order's state history. `execute_parent` runs a TWAP/VWAP parent over a session.

Paper trading's `sim` adapter (`live/broker.py`) fills its market-on-open orders through it;
portfolio mode does not use it as its fill model yet (issue 15)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adaptrade.execution.intraday import IntradayBars
from adaptrade.execution.liquidity import impact_fraction
from adaptrade.execution.orders import (
    DAY,
    FILLED,
    LIMIT,
    MARKET,
    PARTIAL,
    SIDE_BUY,
    Order,
    limit_price_fill,
)
from adaptrade.execution.schedule import bucket_edges, twap_schedule, vwap_schedule


@dataclass(frozen=True)
class Fill:
    """One execution: which order, how many shares at what price, when, and its costs."""

    order_id: str
    symbol: str
    side: int
    quantity: float
    price: float
    timestamp: str
    commission: float
    impact_bps: float


@dataclass
class SimulatedBroker:
    """Fills orders bar by bar; an order never fills on a bar that starts before it was submitted."""

    commission_bps: float = 1.0
    slippage_bps: float = 5.0
    participation: float = 0.10
    impact_k: float = 0.1
    adv: float = math.nan  # shares/day, for impact
    vol_annual: float = math.nan
    whole_shares: bool = False  # fill whole shares only (the cap is floored)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)
    _bar_index: dict[str, int] = field(default_factory=dict, repr=False)  # order id -> first bar it may use

    def submit(self, symbol: str, side: int, quantity: float, ts: str, bar: int, order_type: int = MARKET,
               limit_price: float = math.nan, tif: int = DAY, parent_id: str | None = None) -> Order:
        """Accept an order at timestamp `ts`; it may fill from bar index `bar` on. Bad orders are rejected, not raised."""
        oid = f"{parent_id or 'AT-' + symbol}-{next(self._seq):05d}"
        try:
            o = Order(oid, symbol, side, quantity, order_type, limit_price, tif, ts, parent_id)
        except ValueError:
            o = Order(oid, symbol, side, 1.0, MARKET, math.nan, tif, ts, parent_id)
            o.quantity = quantity
            o.reject(ts)
        self.orders[oid] = o
        self._bar_index[oid] = bar
        return o

    def cancel(self, order_id: str, ts: str) -> None:
        """Cancel what is left of an order."""
        self.orders[order_id].cancel(ts)

    def history(self, order_id: str) -> pd.DataFrame:
        """Every state of one order: timestamp, status, filled quantity."""
        return pd.DataFrame(self.orders[order_id].history, columns=["timestamp", "status", "filled_quantity"])

    def fill_log(self) -> pd.DataFrame:
        """All fills as a table (fills.csv layout)."""
        return pd.DataFrame([f.__dict__ for f in self.fills])

    def on_bar(self, symbol: str, k: int, bars: IntradayBars) -> list[Fill]:
        """Work every active order of `symbol` allowed on bar k, sharing the bar's participation cap."""
        room = self.participation * bars.volume[k] if math.isfinite(self.participation) else math.inf
        done: list[Fill] = []
        for o in self.orders.values():
            if o.symbol != symbol or not o.active or self._bar_index[o.order_id] > k or room <= 0:
                continue
            base = float(bars.open[k])
            if o.order_type == LIMIT:
                base = limit_price_fill(o.side, o.limit_price, base, float(bars.high[k]), float(bars.low[k]))
            if not math.isfinite(base):
                continue
            q = min(o.remaining, room)
            if self.whole_shares:
                q = math.floor(q + 1e-9)
            if q <= 0:
                continue
            imp = impact_fraction(q, self.adv, self.vol_annual, self.impact_k)
            px = base * (1.0 + o.side * (self.slippage_bps / 1e4 + imp))
            if o.order_type == LIMIT:  # never worse than the limit
                px = min(px, o.limit_price) if o.side == SIDE_BUY else max(px, o.limit_price)
            o.fill(q, px, bars.timestamps[k])
            room -= q
            f = Fill(o.order_id, symbol, o.side, q, px, bars.timestamps[k], q * px * self.commission_bps / 1e4, imp * 1e4)
            self.fills.append(f)
            done.append(f)
        return done


def session_minute(timestamps: np.ndarray) -> np.ndarray:
    """Minutes since 09:30 US/Eastern of ISO timestamps (any UTC offset)."""
    ts = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps), utc=True)).tz_convert("America/New_York")
    return np.asarray(ts.hour * 60 + ts.minute - 570, dtype=np.int64)


def slice_bars(bars: IntradayBars, slices: int) -> np.ndarray:
    """Bar-index edges of `slices` clock-time slices of the session (09:30-16:00 ET cut into equal
    time buckets, the buckets the VWAP profile is measured on): slice j works bars edges[j]:edges[j+1].
    A bucket without bars (data gap, late start) is an empty slice, not a shift of the later ones."""
    return np.searchsorted(session_minute(bars.timestamps), bucket_edges(slices), side="left")


@dataclass(frozen=True)
class ParentResult:
    """A parent order worked over a session: its children, what filled, what could not (reported)."""

    parent: Order
    children: list[Order]
    planned: np.ndarray  # child sizes from the scheduler
    filled: float
    unfilled: float
    vwap_price: float  # average fill price of the parent


def execute_parent(broker: SimulatedBroker, symbol: str, side: int, quantity: float, bars: IntradayBars,
                   schedule: str = "vwap", profile: np.ndarray | None = None, slices: int = 13,
                   order_type: int = MARKET, limit_price: float = math.nan, whole_shares: bool = True) -> ParentResult:
    """Split a parent into `slices` children (TWAP equal, VWAP by `profile`) submitted at the start of
    each clock-time slice of the session (`slice_bars`: the same buckets the profile is measured on);
    each child works until its slice ends, its remainder (or a slice without bars) rolls into the next
    child, and what is left after the last slice is cancelled and reported as unfilled."""
    n = len(bars)
    slices = max(1, slices)
    if schedule == "twap":
        planned = twap_schedule(quantity, slices, whole_shares)
    elif schedule == "vwap":
        if profile is None or len(profile) != slices:
            raise ValueError(f"VWAP needs a profile of {slices} weights (estimated from past sessions)")
        planned = vwap_schedule(quantity, profile, whole_shares)
    else:
        raise ValueError(f"unknown schedule '{schedule}' (twap|vwap)")
    parent = broker.submit(symbol, side, quantity, bars.timestamps[0], 0, order_type, limit_price, DAY, None)
    broker._bar_index[parent.order_id] = n  # the parent itself never trades: its children do
    edges = slice_bars(bars, slices)
    children: list[Order] = []
    carry = 0.0
    for j in range(slices):
        a, b = edges[j], edges[j + 1]
        size = planned[j] + carry
        if size <= 0 or a >= b:
            carry = size
            continue
        child = broker.submit(symbol, side, size, bars.timestamps[a], a, order_type, limit_price, DAY, parent.order_id)
        children.append(child)
        for k in range(a, b):
            for f in broker.on_bar(symbol, k, bars):
                if f.order_id == child.order_id:
                    parent.filled += f.quantity
                    parent.cost += f.quantity * f.price
            if not child.active:
                break
        carry = child.remaining
        child.cancel(bars.timestamps[b - 1])
    ts_end = bars.timestamps[-1]
    if parent.filled > 0:
        parent.status = FILLED if parent.quantity - parent.filled <= 1e-9 else PARTIAL
        parent.history.append((ts_end, "filled" if parent.status == FILLED else "partially_filled", parent.filled))
    parent.cancel(ts_end)
    return ParentResult(parent, children, planned, parent.filled, parent.quantity - parent.filled, parent.avg_price)
