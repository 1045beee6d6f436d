"""The market-hours guard on the XNAS calendar: a holiday (Independence Day) and half days (the day before it,
the day after Thanksgiving), bars dated on closed days, and in the live loop an order that would go out
too late is held with its reason: not sent, the strategy's pending order withdrawn, an `alert` event on
the real Redis stream and a counter in the session's metrics."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adaptrade.data.synthetic import generate
from adaptrade.live.broker import SimBroker
from adaptrade.live.feeds import ReplayFeed
from adaptrade.live.loop import PaperLoop
from adaptrade.live.market_hours import NEW_YORK, MarketHours
from adaptrade.live.session_hooks import SessionHooks
from adaptrade.live.state import Lease
from adaptrade.monitoring.paper import PaperMetrics
from adaptrade.strategy.params import StrategyConfig
from tests.live.helpers import journal_lines

HOURS = MarketHours("2015-01-01")


def ny(t: str) -> datetime:
    return datetime.fromisoformat(t).replace(tzinfo=NEW_YORK)


def test_half_day_then_holiday() -> None:
    assert HOURS.half_day("2024-07-03") and not HOURS.half_day("2024-07-02") and not HOURS.is_session("2024-07-04")
    assert HOURS.next_session("2024-07-03") == "2024-07-05"
    held = HOURS.order_refusal("2024-07-03", ny("2024-07-03 12:59"))
    assert held == ("order decided on 2024-07-03 held: it would go out at 2024-07-03 12:59 EDT, before that session's "
                    "close 2024-07-03 13:00 EDT (a half day)")
    assert HOURS.order_refusal("2024-07-03", ny("2024-07-03 13:01")) is None  # after the early close
    assert HOURS.order_refusal("2024-07-03", ny("2024-07-04 11:00")) is None  # the holiday: the next open is the 5th
    late = HOURS.order_refusal("2024-07-03", ny("2024-07-05 09:28"))
    assert late is not None and "too late for the 2024-07-05 open 2024-07-05 09:30 EDT" in late
    assert HOURS.order_refusal("2024-07-02", ny("2024-07-02 15:59")) is not None  # a regular day closes at 16:00
    assert HOURS.bar_refusal("2024-07-04") == ("bar dated 2024-07-04 refused: 2024-07-04 is not an XNAS session (a holiday); "
                                               "the next session is 2024-07-05")
    assert HOURS.bar_refusal("2024-07-03") is None


def test_day_after_thanksgiving_and_last_closed() -> None:
    assert HOURS.half_day("2024-11-29") and not HOURS.is_session("2024-11-28")
    assert HOURS.times("2024-11-29")[1] == ny("2024-11-29 13:00")
    assert HOURS.order_refusal("2024-11-29", ny("2024-11-29 14:00")) is None
    assert HOURS.last_closed(ny("2024-11-29 14:00")) == "2024-11-29"
    assert HOURS.last_closed(ny("2024-11-29 12:00")) == "2024-11-27"  # Thanksgiving had no session
    assert HOURS.last_closed(ny("2024-11-29 13:03"), settle=300) == "2024-11-27"


class LiveReplay(ReplayFeed):
    """A replay whose every session counts as decided live (so the guard judges it by the clock)."""

    def is_live(self, k: int) -> bool:
        return True


def test_orders_too_late_for_the_open_are_held_not_sent(tmp_path: Path, bus: object) -> None:
    cfg = StrategyConfig(buy=35.0, sell=65.0)
    bars = generate(["GH1", "GH2"], 300, seed=7, end="2023-12-29")
    feed = LiveReplay(bars)
    broker = SimBroker(tmp_path, cfg.initial_cash * 2, cfg.commission_bps, cfg.slippage_bps)
    loop = PaperLoop(tmp_path, feed, cfg, broker, {"test": 1})
    current = {"date": ""}
    metrics = PaperMetrics()
    # the clock: always 10:00 New York time the session after the decision (past that open)
    hooks = SessionHooks("g", metrics, bus, lambda: HOURS.times(HOURS.next_session(current["date"]))[0] + timedelta(minutes=30),
                         HOURS)
    hooks.attach(loop)
    orig = hooks.before_orders

    def before(lp: PaperLoop, b: object) -> None:
        current["date"] = str(b.date)  # type: ignore[attr-defined]
        orig(lp, b)

    hooks.before_orders = before  # type: ignore[method-assign]
    lease = Lease(tmp_path)
    lease.acquire("g")
    try:
        assert loop.run(lease) == "done"
    finally:
        lease.release()
    held = [e for e in journal_lines(tmp_path) if e["event"] == "held"]
    assert held and broker.submissions() == [] and broker.positions() == {}
    assert all("too late for the" in str(e["reason"]) for e in held)
    assert all(it["status"] == "held" for it in loop.doc["intents"]) and not any(loop.doc["trades"].values())
    entries = bus._client.xrange(bus.stream)  # type: ignore[attr-defined]
    alerts = [json.loads(f["data"]) for _, f in entries if f["kind"] == "alert"]
    assert len(alerts) == len(held) and {a["name"] for a in alerts} == {"order_held"}
    assert alerts[0]["source"] == "paper" and alerts[0]["session"] == "g" and "too late" in alerts[0]["summary"]
    text = metrics.exposition().decode()
    assert f'adaptrade_paper_orders_held_total{{reason="too_late",session="g"}} {float(len(held))}' in text
