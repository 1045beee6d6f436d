"""The alpaca feed against the loopback stand-in, through alpaca-py's own clients: catch-up sessions from
the historical bars, then daily bars from the market-data websocket (msgpack), a bar on a weekend refused,
a socket dropped by the server and reconnected by alpaca-py, and a session lost meanwhile recovered
from the historical bars."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adaptrade.live.alpaca_feed import AlpacaFeed
from adaptrade.live.market_hours import MarketHours, alpaca_clock
from tests.live.alpaca_standin.fixtures import (
    after_close, sample_bars, serve_history, session_messages, standin_settings, wait_for,
)
from tests.live.alpaca_standin.market import StandinMarket
from tests.live.alpaca_standin.server import StandinServer, daily_bar


@pytest.fixture(scope="module")
def world(sample_dir: Path) -> Iterator[tuple[StandinServer, Any]]:
    bars, _ = sample_bars(sample_dir, "AAPL,MSFT", "2020-01-01", "2020-03-31")
    server = StandinServer(StandinMarket()).start()
    serve_history(server.market, bars)
    yield server, bars
    server.stop()


def _column(bars: Any, day: str) -> int:
    return int(np.searchsorted(bars.dates, np.datetime64(day, "D")))


def test_catch_up_then_stream_with_a_drop_and_a_lost_session(world: tuple[StandinServer, Any]) -> None:
    server, bars = world
    m = server.market
    m.clock_now = after_close("2020-02-28")
    s = standin_settings(server).model_copy(update={"alpaca_bar_settle_seconds": 0.0})
    feed = AlpacaFeed(s, ("AAPL", "MSFT"), "2020-01-01", "2020-03-06", alpaca_clock(s), MarketHours("2015-01-01"), poll=0.05)
    deadline = time.monotonic() + 20
    feed.should_stop = lambda: time.monotonic() > deadline  # a missing bar fails the test instead of hanging it
    try:
        n = _column(bars, "2020-02-28") + 1
        assert len(feed) == n and feed.live_from == n - 1 and str(feed.sessions[0]) == "2020-01-02"
        for k in (0, 17, n - 1):  # catch-up batches are the served bars
            b = feed._batches[k]
            assert str(b.date) == str(bars.dates[k]) and np.array_equal(b.close, bars.close[:, k])
            assert np.array_equal(b.open, bars.open[:, k])
        assert not feed.is_live(n - 2) and feed.is_live(n - 1)
        wait_for(lambda: server.data_queues, what="the data stream subscribed")
        assert server.data_subscriptions[0]["dailyBars"] == ["AAPL", "MSFT"]
        it = feed.replay(n)
        m.clock_now = after_close("2020-03-02")
        saturday = daily_bar("AAPL", "2020-03-07", 1.0, 1.0, 1.0, 1.0, 1.0)
        server.push_daily_bars([saturday, *session_messages(bars, "2020-03-02")])
        got = next(it)
        j = _column(bars, "2020-03-02")
        assert str(got.date) == "2020-03-02" and got.index == n and np.array_equal(got.close, bars.close[:, j])
        notes = feed.take_notes()
        assert [x["kind"] for x in notes] == ["bar_refused"]
        assert "2020-03-07 is not an XNAS session (a weekend); the next session is 2020-03-09" in notes[0]["summary"]
        assert feed.lag(n) == (60.0, after_close("2020-03-03", 0).timestamp())

        assert server.drop_data_streams() == 1  # the server drops the socket; alpaca-py reconnects with backoff
        wait_for(lambda: server.data_connections == 2 and server.data_queues, what="the data stream reconnected")
        m.clock_now = after_close("2020-03-04")  # 2020-03-03 was never streamed (lost during the drop)
        server.push_daily_bars(session_messages(bars, "2020-03-04"))
        lost, d4 = next(it), next(it)
        assert (str(lost.date), str(d4.date)) == ("2020-03-03", "2020-03-04")
        assert np.array_equal(lost.close, bars.close[:, j + 1]) and np.array_equal(d4.open, bars.open[:, j + 2])
        assert [x["kind"] for x in feed.take_notes()] == ["bars_recovered"]
        assert feed.stream_bars >= 5
    finally:
        feed.close()


def test_a_bar_for_a_released_session_is_refused(world: tuple[StandinServer, Any]) -> None:
    server, bars = world
    server.market.clock_now = after_close("2020-03-05")
    s = standin_settings(server).model_copy(update={"alpaca_bar_settle_seconds": 0.0})
    feed = AlpacaFeed(s, ("AAPL", "MSFT"), "2020-03-02", "2020-03-06", alpaca_clock(s), MarketHours("2015-01-01"),
                      poll=0.05, stream=False)
    assert [str(d) for d in feed.sessions] == ["2020-03-02", "2020-03-03", "2020-03-04", "2020-03-05"]
    feed._take("AAPL", "2020-03-04", 1.0, 2.0, time.monotonic())
    feed._take("MSFT", "2020-07-03", 1.0, 2.0, time.monotonic())  # Independence Day observed
    [late, holiday] = feed.take_notes()
    assert late["reason"] == "late" and "2020-03-04 refused: that session's bars were already taken" in late["summary"]
    assert holiday["reason"] == "not_a_session" and "(a holiday)" in holiday["summary"]
