"""Response models of the paper-trading endpoints (routes_paper.py): a session's positions, orders, kill."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PaperSession(BaseModel):
    """Where a paper session stands (the header of `adaptrade paper status`)."""

    session: str = Field(..., description="Session name (its folder under ADAPTRADE_PAPER_DIR).")
    running: bool = Field(..., description="Whether a `paper run` process holds the session's lease now.")
    status: str = Field(..., description="The loop's persisted status: running | done | killed.")
    kill_switch: bool = Field(..., description="Whether the kill switch is on (no new orders; the loop stops).")
    broker: str | None = Field(None, description="Broker of the session: sim | alpaca.")
    mode: str = Field(..., description="per-stock | portfolio.")
    symbols: list[str] = Field(..., description="The session's stocks.")
    cursor: int = Field(..., description="Index of the next replay session to process.")
    last_session_date: str | None = Field(None, description="Session date of the last heartbeat (None before the first).")


class PaperPosition(BaseModel):
    """One non-zero position at the broker."""

    symbol: str = Field(..., description="Ticker.")
    quantity: float = Field(..., description="Shares held (negative = short).")


class PaperPositions(BaseModel):
    """The session's account: cash and non-zero positions, read from its persisted broker book."""

    session: PaperSession = Field(..., description="Where the session stands (as `adaptrade paper status` shows it).")
    cash: float | None = Field(None, description="Cash at the broker (None when not known offline: the alpaca ledger).")
    positions: list[PaperPosition] = Field(..., description="Non-zero positions, by symbol.")


class PaperOrder(BaseModel):
    """One order of the session by client order id; fields the broker book does not hold are None."""

    client_order_id: str = Field(..., description="The client order id (one per order, never sent twice).")
    symbol: str | None = Field(None, description="Ticker.")
    side: str | None = Field(None, description="buy | sell.")
    status: str = Field(..., description="new | partially_filled | filled | cancelled | rejected (the broker's status).")
    open: bool = Field(..., description="Whether the order is still working (new or partially_filled).")
    quantity: float | None = Field(None, description="Shares ordered (None for a notional order).")
    notional: float | None = Field(None, description="Cash ordered, for an all-in entry (None for a share order).")
    filled_quantity: float | None = Field(None, description="Shares filled so far.")
    avg_fill_price: float | None = Field(None, description="Average fill price (None before a fill).")
    time_in_force: str | None = Field(None, description="opg = market-on-open of the next session.")
    reason: str | None = Field(None, description="entry | exit_signal | ... (why the strategy sent it).")
    created: str | None = Field(None, description="Date of the close the order was decided at.")
    last_update: str | None = Field(None, description="Timestamp of the order's last status change.")


class PaperOrders(BaseModel):
    """The session's orders (all of them, or only the open ones)."""

    session: PaperSession = Field(..., description="Where the session stands (as `adaptrade paper status` shows it).")
    orders: list[PaperOrder] = Field(..., description="Orders in submission order.")


class PaperKill(BaseModel):
    """What the kill switch did (`adaptrade paper stop`)."""

    session: str = Field(..., description="Session name.")
    kill_switch: bool = Field(True, description="Always true: the switch is on; the loop sends no new order and stops.")
    cancelled: int = Field(..., description="Open orders cancelled at the broker by this call.")
