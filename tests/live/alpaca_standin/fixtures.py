"""Test helpers: a started stand-in and adapter settings pointing at it (loopback only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adaptrade.settings import Settings
from tests.live.alpaca_standin.server import KEY_ID, SECRET, StandinServer


def standin_settings(server: StandinServer, clock: bool = False) -> Settings:
    return Settings(alpaca_key_id=KEY_ID, alpaca_secret_key=SECRET, alpaca_trading_url=server.url,
                    alpaca_stream_url=server.stream_url, alpaca_data_url=server.url, alpaca_data_stream_url=server.data_stream_url,
                    alpaca_replay_clock_url=(server.url + "/standin/open") if clock else "")


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `cond` until truthy (bounded); the stream's reconnect backs off about a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sample_bars(sample_dir: Any, symbols: str, start: str, end: str) -> Any:
    """The shipped sample's adjusted daily bars (what the backtest and the replay feed read)."""
    from adaptrade.commands.backtest import _request
    from adaptrade.parallel.runner import load_data

    s = Settings()
    req = _request("archive", sample_dir, symbols, None, None, 0, 0, start, end, "adaptive", 14, 35, 65, None, None, None,
                   False, s)
    return load_data(req, s).bars, req.strategy


def bar_time(day: Any) -> str:
    """Alpaca's timestamp of a daily bar: the day's midnight in New York, in UTC."""
    from datetime import datetime, time as dtime
    from zoneinfo import ZoneInfo

    t = datetime.combine(day.astype(object), dtime(0), ZoneInfo("America/New_York")).astimezone(ZoneInfo("UTC"))
    return t.isoformat().replace("+00:00", "Z")


def serve_history(market: Any, bars: Any, upto: str | None = None) -> None:
    """Put `bars` (up to `upto`) behind the stand-in's /v2/stocks/bars and its replay clock's sessions."""
    for i, sym in enumerate(bars.symbols):
        market.daily[sym] = [{"t": bar_time(d), "o": float(bars.open[i, j]), "h": float(bars.high[i, j]),
                              "l": float(bars.low[i, j]), "c": float(bars.close[i, j]), "v": float(bars.volume[i, j]),
                              "n": 1, "vw": float(bars.close[i, j])}
                             for j, d in enumerate(bars.dates) if bars.valid[i, j] and (upto is None or str(d) <= upto)]
    for j, d in enumerate(bars.dates):
        market.sessions[str(d)] = {sym: (float(bars.open[i, j]), float(bars.close[i, j]), bool(bars.valid[i, j]))
                                   for i, sym in enumerate(bars.symbols)}


def session_messages(bars: Any, day: str) -> list[dict[str, Any]]:
    """The stream's daily-bar messages of session `day` (every symbol with a bar that day)."""
    import numpy as np

    from tests.live.alpaca_standin.server import daily_bar

    j = int(np.searchsorted(bars.dates, np.datetime64(day, "D")))
    return [daily_bar(sym, day, float(bars.open[i, j]), float(bars.high[i, j]), float(bars.low[i, j]),
                      float(bars.close[i, j]), float(bars.volume[i, j]))
            for i, sym in enumerate(bars.symbols) if bars.valid[i, j]]


def after_close(day: str, minutes: int = 1) -> Any:
    """A moment `minutes` after session `day`'s close (XNAS, half days included), as a UTC datetime."""
    from datetime import timedelta

    from adaptrade.live.market_hours import MarketHours

    return MarketHours("2015-01-01").times(day)[1] + timedelta(minutes=minutes)
