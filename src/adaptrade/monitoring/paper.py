"""The Prometheus metrics of one paper session (`adaptrade paper run`), in their own registry and served
by the paper process itself on `/metrics` (setting paper_metrics_port): the loop's heartbeat, the feed's
lag and the time its next session's bars are due (the AdaptradePaperFeedQuiet rule reads them), and
counters of bars, orders, held orders, fills, parameter changes and alerts."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from adaptrade.settings import Settings

L = ("session",)


class PaperMetrics:
    """Every metric of a paper session, labelled by session name, in `self.registry`."""

    def __init__(self, settings: Settings | None = None, registry: CollectorRegistry | None = None) -> None:
        s = settings if settings is not None else Settings()
        self.registry = r = registry if registry is not None else CollectorRegistry()
        self.heartbeat = Gauge("adaptrade_paper_heartbeat_timestamp_seconds",
                               "Unix time the paper loop last showed it is alive (also while it waits for bars).", L, registry=r)
        self.last_bar = Gauge("adaptrade_paper_last_bar_timestamp_seconds", "Unix time the last session's bars reached the loop.",
                              L, registry=r)
        self.feed_lag = Gauge("adaptrade_paper_feed_lag_seconds",
                              "Live feed: seconds from the last session's close to its bars reaching the loop (feed clock).", L, registry=r)
        self.bar_due = Gauge("adaptrade_paper_bar_due_timestamp_seconds",
                             "Live feed: Unix time the next session's bars are due (its close plus the settle time).", L, registry=r)
        self.quiet_seconds = Gauge("adaptrade_paper_feed_quiet_seconds", "Setting paper_feed_quiet_minutes, in seconds.", registry=r)
        self.bars = Counter("adaptrade_paper_bars_received", "Stock-bars the session's feed delivered to the loop.", L, registry=r)
        self.bars_refused = Counter("adaptrade_paper_bars_refused", "Bars refused (not a session date, late, unknown symbol).",
                                    ("session", "reason"), registry=r)
        self.orders = Counter("adaptrade_paper_orders", "Orders the session sent to its broker, by side.", ("session", "side"), registry=r)
        self.orders_held = Counter("adaptrade_paper_orders_held", "Orders the market-hours guard did not send, by reason.",
                                   ("session", "reason"), registry=r)
        self.fills = Counter("adaptrade_paper_fills", "Fills the session recorded, by side.", ("session", "side"), registry=r)
        self.param_changes = Counter("adaptrade_paper_param_changes", "Parameter changes of the session's strategies.",
                                     ("session", "parameter"), registry=r)
        self.alerts = Counter("adaptrade_paper_alerts", "Alerts the session raised, by name.", ("session", "name"), registry=r)
        self.quiet_seconds.set(s.paper_feed_quiet_minutes * 60.0)

    def start(self, session: str) -> None:
        """Create the session's series at zero, so increase() sees the first event."""
        self.heartbeat.labels(session).set(time.time())
        self.bars.labels(session)
        for side in ("buy", "sell"):
            self.orders.labels(session, side)
            self.fills.labels(session, side)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> Any:
        """Serve `/metrics` from a daemon thread (prometheus-client's server); returns it (shutdown() stops it)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
