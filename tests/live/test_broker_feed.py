"""The sim broker (market-on-open fills with the backtest's costs, one order per client id, idempotent
opens, the kill switch's cancel) and the replay feed (exchange sessions, speed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from adaptrade.data.synthetic import generate
from adaptrade.live.broker import OrderRequest, SimBroker
from adaptrade.live.feeds import ReplayFeed


def test_sim_broker_fills_at_the_open_with_costs_once(tmp_path: Path) -> None:
    b = SimBroker(tmp_path, 200_000.0, commission_bps=1.0, slippage_bps=5.0)
    b.submit(OrderRequest("AT-A-1", "A", 1, notional=100_000.0, created="2024-01-02"))
    b.submit(OrderRequest("AT-A-1", "A", 1, notional=100_000.0, created="2024-01-02"))  # a resend: refused
    assert b.submissions() == ["AT-A-1", "AT-A-1"] and len(b.orders()) == 1
    syms, op, cl = ("A", "B"), np.array([50.0, 10.0]), np.array([51.0, 11.0])
    b.on_open("2024-01-03", syms, op, cl, np.array([True, True]))
    b.on_open("2024-01-03", syms, op, cl, np.array([True, True]))  # a restart replays the same open
    fills = b.fills_since(0)
    assert len(fills) == 1
    px = 50.0 * (1 + 5e-4)
    assert fills[0]["price"] == px
    assert math.isclose(fills[0]["quantity"], 100_000.0 / (px * (1 + 1e-4)), rel_tol=1e-15)
    assert b.positions() == {"A": fills[0]["quantity"]}
    assert b.order("AT-A-1")["status"] == "filled"


def test_order_waits_for_a_session_with_a_bar_and_kill_cancels(tmp_path: Path) -> None:
    b = SimBroker(tmp_path, 100_000.0, 1.0, 5.0)
    b.submit(OrderRequest("AT-B-1", "B", -1, quantity=10.0, created="2024-01-02"))
    b.on_open("2024-01-03", ("B",), np.array([np.nan]), np.array([np.nan]), np.array([False]))
    assert [o["client_order_id"] for o in b.open_orders()] == ["AT-B-1"]
    assert b.cancel_all() == 1 and b.open_orders() == []
    b.on_open("2024-01-04", ("B",), np.array([9.0]), np.array([9.5]), np.array([True]))
    assert b.fills_since(0) == []


def test_replay_feed_plays_exchange_sessions_at_speed() -> None:
    bars = generate(["F1", "F2"], 40, seed=1, end="2024-01-31")
    pauses: list[float] = []
    feed = ReplayFeed(bars, speed=4.0, sleep=pauses.append)
    got = list(feed.replay(5))
    assert [s.date for s in got] == list(bars.dates[5:])
    assert np.datetime64("2024-01-15") not in feed.sessions  # Martin Luther King day: no session
    assert pauses == [0.25] * (len(got) - 1)
    k = 7
    np.testing.assert_array_equal(feed.session(k).close, bars.close[:, k])
