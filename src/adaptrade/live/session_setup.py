"""`paper run`'s wiring of the parts around the loop: the alpaca feed with its clock, the session hooks
(market-hours guard, the session's own /metrics, the Redis stream), and their shutdown."""

from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from adaptrade.errors import ConfigError
from adaptrade.live.market_hours import MarketHours, alpaca_clock
from adaptrade.live.session_hooks import SessionHooks


class SessionParts:
    """What `paper run` starts besides the loop, and stops at the end (`close`)."""

    def __init__(self) -> None:
        self.feed: Any = None
        self.hooks: SessionHooks | None = None
        self.server: Any = None
        self.bus: Any = None

    def close(self) -> None:
        """The session's last positions into the Redis cache (hooks.finish), then stop the feed, /metrics, Redis."""
        if self.hooks is not None:
            with suppress(Exception):
                self.hooks.finish()
        for part, how in ((self.feed, "close"), (self.server, "shutdown"), (self.bus, "close")):
            if part is not None:
                with suppress(Exception):
                    getattr(part, how)()


def alpaca_feed(parts: SessionParts, settings: Any, symbols: tuple[str, ...], start: str | None, end: str | None) -> Any:
    """The alpaca feed from `start` (required) to `end` (None: until the kill switch), on Alpaca's clock."""
    from adaptrade.data.calendar import parse_day
    from adaptrade.live.alpaca_feed import AlpacaFeed

    if start is None:
        raise ConfigError("--feed alpaca needs --start (the first session the strategies see; earlier closed sessions "
                          "are caught up from Alpaca's historical bars)", field="start")
    start_d = str(parse_day(start, "start"))
    end_d = None if end is None else str(parse_day(end, "end"))
    if settings.alpaca_key_id is None or settings.alpaca_secret_key is None:
        raise ConfigError("--feed alpaca needs ADAPTRADE_ALPACA_KEY_ID and ADAPTRADE_ALPACA_SECRET_KEY", field="alpaca_key_id")
    hours = MarketHours(str(min(start_d, "2000-01-01")))
    parts.feed = AlpacaFeed(settings, symbols, start_d, end_d, alpaca_clock(settings), hours)
    return parts.feed


def session_hooks(parts: SessionParts, settings: Any, session: str, loop: Any, lease: Any, folder: Path,
                  bus: Any = None) -> SessionHooks:
    """The hooks of a session: /metrics on paper_metrics_port (0 = none), the Redis stream (`bus`, the
    api layer's EventBus, made by the command above this layer; None = off), and with the alpaca feed
    the market-hours guard on Alpaca's clock."""
    from adaptrade.live.loop import killed
    from adaptrade.monitoring.paper import PaperMetrics

    metrics = PaperMetrics(settings)
    if settings.paper_metrics_port:
        parts.server = metrics.serve(settings.paper_metrics_port, settings.paper_metrics_host)
    parts.bus = bus
    feed = loop.feed
    clock = getattr(feed, "clock", None)
    hooks = SessionHooks(session, metrics, parts.bus, clock, getattr(feed, "hours", None))
    hooks.attach(loop)
    parts.hooks = hooks
    if hasattr(feed, "on_idle"):
        last = [0.0]

        def idle() -> None:
            hooks.beat()
            hooks.drain(feed)
            if time.monotonic() - last[0] > 1.0:
                lease.beat(session_date=str(feed.sessions[-1]) if feed.sessions else None, waiting=True)
                last[0] = time.monotonic()

        feed.on_idle = idle
        feed.should_stop = lambda: killed(folder)
    return hooks
