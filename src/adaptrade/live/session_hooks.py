"""What a per-stock paper session reports and guards besides trading (called by `PaperLoop` at two points):
before a live session's orders go out, the market-hours guard; after every session, its fills, parameter
changes and orders to `/metrics` (monitoring/paper.py) and to the Redis stream (api/events.py, kinds
`fill`, `param`, `alert`, with `source: paper`), the session's positions to the Redis cache (what GET
/api/v1/paper/positions answers, at most once a second and when the session ends), and the heartbeat.
Stream delivery is at most once across a crash (the counters restart at what the state holds); the
session's files and state are the record."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from adaptrade.live.market_hours import Clock, MarketHours
from adaptrade.monitoring.paper import PaperMetrics

log = logging.getLogger("adaptrade.live")
ALERT_RULES = ("breaker_tripped", "breaker_reset", "stop_pct", "stop_vol")  # portfolio risk events that are alerts
POSITIONS_EVERY = 1.0  # seconds between the positions a running session caches in Redis


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SessionHooks:
    """The guard, the metrics and the event stream of one session; any of them may be off (None)."""

    def __init__(self, session: str, metrics: PaperMetrics | None = None, bus: Any = None,
                 clock: Clock | None = None, hours: MarketHours | None = None) -> None:
        self.session, self.metrics, self.bus, self.clock, self.hours = session, metrics, bus, clock, hours
        self._seen: dict[str, int] | None = None
        self._loop: Any = None
        self._cached_at = -float("inf")
        if metrics is not None:
            metrics.start(session)

    # ---- the stream ----
    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self.bus is not None:
            self.bus.publish(kind, {"source": "paper", "session": self.session, **data})

    def alert(self, name: str, summary: str, severity: str = "warning", **labels: str) -> None:
        """A session alert: logged, counted in /metrics and published as an `alert` event."""
        log.warning("paper session %s: %s", self.session, summary)
        if self.metrics is not None:
            self.metrics.alerts.labels(self.session, name).inc()
        t = _now()
        self.publish("alert", {"id": f"paper:{name}:{self.session}:{t}", "name": name, "state": "firing", "severity": severity,
                               "summary": summary[:2000], "labels": {"alertname": name, "severity": severity,
                                                                     "session": self.session, **labels},
                               "started": t, "ended": None, "updated": t})

    def cache_positions(self, loop: Any, running: bool = True, force: bool = False) -> None:
        """The session's GET /paper/positions document into the Redis cache (the bus's `cache_positions`), read
        from the files the loop has just written, as the API reads them (`running` is this process's own
        answer: the API asks whether another process holds the lease); at most once a second unless `force`."""
        put = getattr(self.bus, "cache_positions", None)
        now = time.monotonic()
        if put is None or (not force and now - self._cached_at < POSITIONS_EVERY):
            return
        self._cached_at = now
        from adaptrade.live.session_view import positions_doc, session_view

        try:
            view = session_view(self.session, loop.folder.parent)
        except Exception as exc:  # noqa: BLE001  the cache is best effort; the session's files stay the record
            log.debug("paper session %s: positions not cached: %s", self.session, exc)
            return
        put(self.session, positions_doc({**view, "running": running}))

    def finish(self) -> None:
        """The session is ending (or failed): its last positions into the cache, no longer running."""
        if self._loop is not None:
            self.cache_positions(self._loop, running=False, force=True)

    def beat(self) -> None:
        if self.metrics is not None:
            self.metrics.heartbeat.labels(self.session).set(time.time())

    def drain(self, feed: Any) -> None:
        """The feed's notes (bars refused, sessions recovered from history) as alerts and counters."""
        for note in feed.take_notes() if hasattr(feed, "take_notes") else ():
            if note["kind"] == "bar_refused" and self.metrics is not None:
                self.metrics.bars_refused.labels(self.session, note["reason"]).inc()
            self.alert(note["kind"], note["summary"], symbol=note.get("symbol", ""))

    # ---- called by the loop ----
    def before_orders(self, loop: Any, bars: Any) -> None:
        """Live sessions only: an order the guard refuses at this moment is not sent (held, with its reason)."""
        live = getattr(loop.feed, "is_live", None)
        if self.clock is None or self.hours is None or live is None or not live(bars.index):
            return  # a replayed or caught-up session: its decision time is its own close
        now = self.clock()
        for it in [it for it in loop.doc["intents"] if it["status"] == "pending" and it["created"] == str(bars.date)]:
            reason = self.hours.order_refusal(bars.date, now)
            if reason is None:
                continue
            loop.hold(it["client_order_id"], reason)
            if self.metrics is not None:
                self.metrics.orders_held.labels(self.session, "too_late" if "too late" in reason else "before_close").inc()
            self.alert("order_held", f"{it['client_order_id']}: {reason}", symbol=it["symbol"])

    def after_batch(self, loop: Any, bars: Any) -> None:
        """Everything new in the session's state since the last call: to /metrics and the stream."""
        doc, m, s = loop.doc, self.metrics, self.session
        if self._seen is None:
            self.attach(loop)
        assert self._seen is not None
        seen = self._seen
        for f in doc["fills"][seen["fills"]:]:
            if m is not None:
                m.fills.labels(s, f["side"]).inc()
            self.publish("fill", {"symbol": f["symbol"], "side": f["side"], "date": str(f["timestamp"])[:10],
                                  "price": f["price"], "shares": f["quantity"], "client_order_id": f["order_id"],
                                  "commission": f["commission"]})
        seen["fills"] = len(doc["fills"])
        for sym, rows in doc["changes"].items():
            for c in rows[seen.get(f"c:{sym}", 0):]:
                if m is not None:
                    m.param_changes.labels(s, c["parameter"]).inc()
                self.publish("param", {"symbol": sym, **c})
            seen[f"c:{sym}"] = len(rows)
        intents, k = doc["intents"], seen["intents"]
        while k < len(intents) and intents[k]["status"] != "pending":  # sent or held, in the order they were made
            if m is not None and intents[k]["status"] == "sent":
                m.orders.labels(s, "buy" if intents[k]["side"] > 0 else "sell").inc()
            k += 1
        seen["intents"] = k  # the first intent not yet settled: each batch looks only at the new ones
        if m is not None:
            now = time.time()
            m.bars.labels(s).inc(int(bars.valid.sum()))
            m.last_bar.labels(s).set(now)
            m.heartbeat.labels(s).set(now)
            lag = getattr(loop.feed, "lag", None)
            if lag is not None:
                info = lag(bars.index)
                if info is not None:
                    m.feed_lag.labels(s).set(info[0])
                    m.bar_due.labels(s).set(info[1])
        self.drain(loop.feed)
        self.cache_positions(loop)

    def attach(self, loop: Any) -> None:
        """Hook into `loop` (before it runs): what its state already holds is not published again."""
        loop.hooks = self
        self._loop = loop
        if hasattr(loop, "a"):  # portfolio mode: the record buffers' counters
            from adaptrade.portfolio.layout import N_CHANGES, N_EVENTS, N_FILLS

            c = loop.a["counts"]
            self._seen = {"fills": int(c[N_FILLS]), "changes": int(c[N_CHANGES]), "events": int(c[N_EVENTS])}
            return
        doc = loop.doc
        settled = next((k for k, it in enumerate(doc["intents"]) if it["status"] == "pending"), len(doc["intents"]))
        self._seen = {"fills": len(doc["fills"]), "intents": settled,
                      **{f"c:{k}": len(v) for k, v in doc["changes"].items()}}

    def after_portfolio_session(self, loop: Any, t: int) -> None:
        """Portfolio mode, after session t: new fills, parameter changes and risk events (stops, breaker,
        limits: alerts) from the account's record buffers."""
        from adaptrade.backtest.kernel import C_NEW, C_OLD, C_PARAM, C_REASON, C_SYMBOL, C_T
        from adaptrade.portfolio.layout import (
            F_COMMISSION, F_PX, F_QTY, F_SIDE, F_SYM, F_T, N_CHANGES, N_EVENTS, N_FILLS, RE_AFTER, RE_BEFORE, RE_RULE, RE_SYM, RE_T,
        )
        from adaptrade.risk.limits import RULES
        from adaptrade.strategy.state import PARAM_NAMES, REASONS

        if self._seen is None:
            self.attach(loop)
        assert self._seen is not None
        a, c, seen, m, s = loop.a, loop.a["counts"], self._seen, self.metrics, self.session
        syms, dates = loop.symbols, loop.bars.dates
        for f in a["fills"][seen["fills"]:int(c[N_FILLS])]:
            side = "buy" if f[F_SIDE] > 0 else "sell"
            if m is not None:
                m.fills.labels(s, side).inc()
            self.publish("fill", {"symbol": syms[int(f[F_SYM])], "side": side, "date": str(dates[int(f[F_T])]),
                                  "price": float(f[F_PX]), "shares": float(f[F_QTY]), "commission": float(f[F_COMMISSION])})
        for ch in a["changes"][seen["changes"]:int(c[N_CHANGES])]:
            name = PARAM_NAMES[int(ch[C_PARAM])]
            if m is not None:
                m.param_changes.labels(s, name).inc()
            self.publish("param", {"symbol": syms[int(ch[C_SYMBOL])], "date": str(dates[int(ch[C_T])]), "parameter": name,
                                   "old_value": float(ch[C_OLD]), "new_value": float(ch[C_NEW]), "reason": REASONS[int(ch[C_REASON])]})
        for e in a["events"][seen["events"]:int(c[N_EVENTS])]:
            rule = RULES[int(e[RE_RULE])]
            if rule not in ALERT_RULES:  # sizing notes (Kelly warm-up, caps, cash) are in orders.csv, not alerts
                continue
            sym = syms[int(e[RE_SYM])] if 0 <= int(e[RE_SYM]) < len(syms) else ""
            self.alert(f"risk_{rule}", f"{rule} on {dates[int(e[RE_T])]}{' for ' + sym if sym else ''} "
                                       f"({float(e[RE_BEFORE]):g} -> {float(e[RE_AFTER]):g})",
                       "critical" if rule == "breaker_tripped" else "warning", symbol=sym)
        seen.update(fills=int(c[N_FILLS]), changes=int(c[N_CHANGES]), events=int(c[N_EVENTS]))
        self.cache_positions(loop)
        if m is not None:
            now = time.time()
            m.bars.labels(s).inc(int(loop.bars.valid[:, t].sum()))
            m.last_bar.labels(s).set(now)
            m.heartbeat.labels(s).set(now)
