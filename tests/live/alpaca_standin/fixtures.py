"""Test helpers: a started stand-in and adapter settings pointing at it (loopback only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adaptrade.settings import Settings
from tests.live.alpaca_standin.server import KEY_ID, SECRET, StandinServer


def standin_settings(server: StandinServer, clock: bool = False) -> Settings:
    return Settings(alpaca_key_id=KEY_ID, alpaca_secret_key=SECRET, alpaca_trading_url=server.url,
                    alpaca_stream_url=server.stream_url, alpaca_data_url=server.url,
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
