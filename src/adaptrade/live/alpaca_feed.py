"""The `alpaca` feed: daily bars from Alpaca, as the replay feed's `SessionBars`, one batch per XNAS session.

Sessions already closed when the session starts (from `--start`) come from the historical bars
(live/alpaca_history.py, StockHistoricalDataClient): the catch-up that warms the strategies up. Later
sessions come from alpaca-py's StockDataStream (daily bars, `{"T":"d"}`; msgpack frames), in a daemon
thread. The feed accepts Alpaca's daily bars rather than aggregating minute bars: they are the same
kind of bar as the historical ones (Alpaca's own daily aggregation), and a daily strategy decides
once, after the close. A stream daily bar is the running bar of its day, so a session's batch is
released only once the feed's clock is past the session's close (XNAS, half days included) plus
`alpaca_bar_settle_seconds`, with the latest bar per symbol; a symbol still missing after a short
grace (or once a later session's bar arrives) is looked up in the historical bars (a bar lost while
the socket was down), else invalid. A bar dated on a non-session day is refused with a note; so is a
bar for a session already released. alpaca-py reconnects a dropped socket by itself (with backoff)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.errors import DataError
from adaptrade.live.feeds import SessionBars
from adaptrade.live.market_hours import Clock, MarketHours

NEW_YORK = ZoneInfo("America/New_York")
GRACE = 5.0  # wall seconds a session's incomplete batch waits for its other symbols' bars
log = logging.getLogger("adaptrade.live")


class _Symbols:
    """What the loop reads of `feed.bars`: the symbols."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self.n_symbols = len(symbols)


class AlpacaFeed:
    """Catch-up sessions from Alpaca's historical bars, then live sessions from its market-data stream."""

    def __init__(self, settings: Any, symbols: tuple[str, ...], start: str, end: str | None, clock: Clock,
                 hours: MarketHours, poll: float = 0.5, stream: bool = True) -> None:
        from adaptrade.errors import ConfigError

        if settings.alpaca_key_id is None or settings.alpaca_secret_key is None:
            raise ConfigError("--feed alpaca needs ADAPTRADE_ALPACA_KEY_ID and ADAPTRADE_ALPACA_SECRET_KEY", field="alpaca_key_id")
        self.settings, self.clock, self.hours, self.poll = settings, clock, hours, poll
        self.symbols, self.end = tuple(symbols), end
        self.bars = _Symbols(self.symbols)
        self.settle = float(settings.alpaca_bar_settle_seconds)
        self.sessions: list[np.datetime64] = []
        self._batches: list[SessionBars] = []
        self._released: list[datetime] = []
        self._notes: list[dict[str, str]] = []
        self._q: queue.Queue[tuple[str, str, float, float, float]] = queue.Queue()
        self._pending: dict[str, dict[str, tuple[float, float]]] = {}
        self._first_seen: dict[str, float] = {}
        self.should_stop: Callable[[], bool] = lambda: False
        self.on_idle: Callable[[], None] = lambda: None
        self.stream_bars = 0
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        if stream:
            self.start_stream()  # before the catch-up, so no bar falls between history and stream
        self.start = start if hours.is_session(start) else hours.next_session(start)
        now = clock()
        last = hours.last_closed(now, self.settle)
        upto = min(last, end) if end else last
        if self.start <= upto:
            for d, o, c, v in self._history(self.start, upto):
                self._release(d, o, c, v, now)
        self._live_from = max(len(self._batches) - 1, 0)  # the last closed session on is decided live

    # ---- history ----
    def _history(self, a: str, b: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """Sessions a..b from the historical daily bars (a session nobody traded: all invalid)."""
        from adaptrade.live.alpaca_history import warmup_bars

        n = len(self.symbols)
        try:
            bars: Bars | None = warmup_bars(self.settings, list(self.symbols), a, b, feed=self.settings.alpaca_data_feed)
        except DataError:
            bars = None
        col = {} if bars is None else {str(d): j for j, d in enumerate(bars.dates)}
        out = []
        for d in self.hours.sessions(a, b):
            j = col.get(d)
            if j is None or bars is None:
                out.append((d, np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.bool_)))
            else:
                out.append((d, bars.open[:, j].copy(), bars.close[:, j].copy(), bars.valid[:, j].copy()))
        if bars is not None:
            for d in sorted(set(col) - set(self.hours.sessions(a, b))):
                self._note("bar_refused", self.hours.bar_refusal(d) or f"bar dated {d} refused", "not_a_session")
        return out

    def _release(self, d: str, o: np.ndarray, c: np.ndarray, v: np.ndarray, at: datetime) -> None:
        """Session `d`'s batch is final at `at` (feed clock)."""
        k = len(self._batches)
        self._batches.append(SessionBars(k, np.datetime64(d, "D"), self.symbols, o, c, v))
        self.sessions.append(np.datetime64(d, "D"))
        self._released.append(at)

    def _note(self, kind: str, summary: str, reason: str = "", symbol: str = "") -> None:
        log.warning("alpaca feed: %s", summary)
        self._notes.append({"kind": kind, "summary": summary, "reason": reason, "symbol": symbol})

    def take_notes(self) -> list[dict[str, str]]:
        """Refusals and recoveries since the last call (the session hooks publish them)."""
        out, self._notes = self._notes, []
        return out

    # ---- what the loop reads ----
    def __len__(self) -> int:
        return len(self._batches)

    @property
    def live_from(self) -> int:
        """Index of the first session decided live (earlier ones are caught up from history)."""
        return self._live_from

    def is_live(self, k: int) -> bool:
        """Session k is decided now (the last session closed at start-up, or a streamed one), not caught up."""
        return k >= self._live_from

    def lag(self, k: int) -> tuple[float, float] | None:
        """(seconds from session k's close to its release, Unix time the next session's bars are due)."""
        if not self.is_live(k):
            return None
        d = str(self.sessions[k])
        close = self.hours.times(d)[1]
        due = self.hours.times(self.hours.next_session(d))[1] + timedelta(seconds=self.settle)
        return (self._released[k] - close).total_seconds(), due.timestamp()

    def _next(self) -> str:
        return self.hours.next_session(str(self.sessions[-1])) if self.sessions else self.start

    def _finished(self) -> bool:
        """True once every session up to `--end` was released."""
        return self.end is not None and self._next() > self.end

    def replay(self, start: int = 0) -> Any:
        """Sessions from index `start` on; waits for the stream after the catch-up (until `--end`, or the kill switch)."""
        k = start
        while True:
            while k >= len(self._batches):
                if self._finished() or self.should_stop():
                    return
                self._pump()
                self.on_idle()
            yield self._batches[k]
            k += 1

    # ---- the stream ----
    def start_stream(self) -> None:
        """alpaca-py's StockDataStream, daily bars of every symbol, in a daemon thread."""
        from alpaca.data.enums import DataFeed
        from alpaca.data.live.stock import StockDataStream

        s = self.settings
        self._stream = StockDataStream(s.alpaca_key_id.get_secret_value(), s.alpaca_secret_key.get_secret_value(),
                                       feed=DataFeed(s.alpaca_data_feed), url_override=s.alpaca_data_stream_url or None)

        async def on_bar(b: Any) -> None:
            self.stream_bars += 1
            self._q.put((b.symbol, b.timestamp.astimezone(NEW_YORK).date().isoformat(), float(b.open), float(b.close),
                         time.monotonic()))

        self._stream.subscribe_daily_bars(on_bar, *self.symbols)
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-daily-bars", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        """Take what the stream delivered (waiting up to `poll`), then release every session that is due."""
        try:
            item: Any = self._q.get(timeout=self.poll)
        except queue.Empty:
            item = None
        while item is not None:
            self._take(*item)
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                item = None
        self._release_due()

    def _take(self, sym: str, d: str, o: float, c: float, seen: float) -> None:
        if sym not in self.symbols:
            return
        refusal = self.hours.bar_refusal(d)
        if refusal is not None:
            self._note("bar_refused", f"{sym} {refusal}", "not_a_session", sym)
            return
        if d < self.start or (self.sessions and d <= str(self.sessions[-1])):
            self._note("bar_refused", f"{sym} bar dated {d} refused: that session's bars were already taken", "late", sym)
            return
        self._pending.setdefault(d, {})[sym] = (o, c)  # a running daily bar: the latest one wins
        self._first_seen.setdefault(d, seen)

    def _release_due(self) -> None:
        now = self.clock()
        while not self._finished():
            nxt = self._next()
            close = self.hours.times(nxt)[1] + timedelta(seconds=self.settle)
            if now < close:
                return
            got = self._pending.get(nxt, {})
            later = any(d > nxt for d in self._pending)
            waited = time.monotonic() - self._first_seen.get(nxt, time.monotonic())
            if len(got) < len(self.symbols) and not later and (waited < GRACE if got else now < close + timedelta(seconds=60)):
                return
            n = len(self.symbols)
            o, c, v = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.bool_)
            for i, sym in enumerate(self.symbols):
                if sym in got:
                    o[i], c[i], v[i] = got[sym][0], got[sym][1], True
            if not v.all():  # lost while the socket was down, or not traded: ask the historical bars
                [(_, ho, hc, hv)] = self._history(nxt, nxt)
                miss = ~v & hv
                o[miss], c[miss], v[miss] = ho[miss], hc[miss], True
                if miss.any():
                    self._note("bars_recovered", f"{nxt}: {int(miss.sum())} daily bar(s) not received on the stream "
                                                 f"taken from the historical bars ({', '.join(np.array(self.symbols)[miss])})")
            self._pending.pop(nxt, None)
            self._first_seen.pop(nxt, None)
            self._release(nxt, o, c, v, now)

    def close(self) -> None:
        """Stop the stream thread (the process exiting does it too)."""
        from adaptrade.live.alpaca_broker import stop_stream

        stop_stream(self._stream)
        if self._thread is not None:
            self._thread.join(5)
