"""The market-hours guard of live paper trading, on the XNAS calendar (exchange-calendars: holidays,
half days): a daily strategy decides after a session's close and its orders are for the next
session's open, so an order may go out only between that close and shortly before that open
(`OPG_CUTOFF`, Alpaca's last minute for market-on-open orders), and a bar is only taken for a date
that was a session. Every refusal is a sentence naming the date and the session times (New York)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR = "XNAS"
OPG_CUTOFF = timedelta(minutes=2)  # Alpaca takes opg orders until 09:28 for a 09:30 open
log = logging.getLogger("adaptrade.live")

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def alpaca_clock(settings: Any) -> Clock:
    """Now as the Alpaca account's clock says (`GET /v2/clock`, alpaca-py's TradingClient)."""
    from alpaca.trading.client import TradingClient

    client = TradingClient(settings.alpaca_key_id.get_secret_value(), settings.alpaca_secret_key.get_secret_value(),
                           paper=True, url_override=settings.alpaca_trading_url or None)

    def now() -> datetime:
        ts = client.get_clock().timestamp
        return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)

    return now


@lru_cache(maxsize=2)
def _calendar(start: str) -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(CALENDAR, start=start)


def _ny(t: datetime) -> str:
    return t.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")


class MarketHours:
    """Session dates, open and close times (UTC) and the two checks of the guard."""

    def __init__(self, start: str = "2000-01-01") -> None:
        self.cal = _calendar(start)

    @staticmethod
    def _day(d: str | date | np.datetime64) -> str:
        return str(np.datetime64(d, "D"))

    def is_session(self, d: str | date | np.datetime64) -> bool:
        return bool(self.cal.is_session(self._day(d)))

    def times(self, d: str | date | np.datetime64) -> tuple[datetime, datetime]:
        """(open, close) of session `d` in UTC."""
        day = self._day(d)
        return self.cal.session_open(day).to_pydatetime(), self.cal.session_close(day).to_pydatetime()

    def half_day(self, d: str | date | np.datetime64) -> bool:
        """True when session `d` closes before 16:00 New York time (an early close)."""
        return self.times(d)[1].astimezone(NEW_YORK).hour < 16

    def next_session(self, d: str | date | np.datetime64) -> str:
        """The first session after date `d` (a session or not)."""
        day = self._day(d)
        nxt = self.cal.date_to_session(day, "next")
        if str(nxt.date()) == day:
            nxt = self.cal.next_session(day)
        return str(nxt.date())

    def sessions(self, start: str, end: str) -> list[str]:
        """Session dates start..end inclusive (ISO strings)."""
        return [str(s.date()) for s in self.cal.sessions_in_range(start, end)]

    def last_closed(self, now: datetime, settle: float = 0.0) -> str | None:
        """The latest session whose close (plus `settle` seconds) is not after `now`."""
        day = now.astimezone(NEW_YORK).date().isoformat()
        s = self.cal.date_to_session(day, "previous")
        while self.times(s)[1] + timedelta(seconds=settle) > now:
            s = self.cal.previous_session(s)
        return str(s.date())

    # ---- the guard ----
    def bar_refusal(self, d: str | date | np.datetime64) -> str | None:
        """Why a daily bar dated `d` is not taken (None: `d` was a session)."""
        day = self._day(d)
        if self.is_session(day):
            return None
        kind = "a weekend" if np.datetime64(day, "D").astype(object).weekday() >= 5 else "a holiday"
        return f"bar dated {day} refused: {day} is not an {CALENDAR} session ({kind}); the next session is {self.next_session(day)}"

    def order_refusal(self, decided: str | date | np.datetime64, now: datetime) -> str | None:
        """Why an order decided after session `decided`'s close may not go out at `now` (None: it may);
        it is for the next session's open and must reach the broker before that open less `OPG_CUTOFF`."""
        day = self._day(decided)
        close = self.times(day)[1]
        nxt = self.next_session(day)
        opened = self.times(nxt)[0]
        half = " (a half day)" if self.half_day(day) else ""
        if now < close:
            return (f"order decided on {day} held: it would go out at {_ny(now)}, before that session's close "
                    f"{_ny(close)}{half}")
        if now >= opened - OPG_CUTOFF:
            return (f"order decided after the {day} close{half} refused: too late for the {nxt} open {_ny(opened)} "
                    f"(market-on-open orders until {_ny(opened - OPG_CUTOFF)}); now {_ny(now)}")
        return None
