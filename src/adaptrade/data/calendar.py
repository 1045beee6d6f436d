"""NYSE trading sessions as `datetime64[D]` arrays, built once per process and cached.

`exchange_calendars` costs ~0.1-0.2 s to build the XNYS calendar, so the session array is
computed on first use and every later call is a `searchsorted` plus a small copy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1990-01-01"


@lru_cache(maxsize=1)
def _all_sessions() -> np.ndarray:
    """Every XNYS session from CALENDAR_START to the calendar's default end (read-only)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START)
    sessions = np.asarray(cal.sessions.values, dtype="datetime64[ns]").astype("datetime64[D]")
    sessions.setflags(write=False)
    return sessions


def _day(value: str | np.datetime64) -> np.datetime64:
    """A date-like value as `datetime64[D]`."""
    return np.datetime64(value, "D")


def nyse_sessions(end: str | np.datetime64, n: int) -> np.ndarray:
    """The last `n` NYSE sessions on or before `end` (datetime64[D], ascending): synthetic data's calendar."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    sessions = _all_sessions()
    end_d = _day(end)
    if end_d > sessions[-1]:
        raise ValueError(f"end {end_d} is after the last known NYSE session {sessions[-1]}")
    hi = int(np.searchsorted(sessions, end_d, side="right"))
    if n > hi:
        raise ValueError(
            f"only {hi} NYSE sessions between {sessions[0]} and {end_d}; asked for {n}"
        )
    return sessions[hi - n : hi].copy()


def nyse_sessions_between(start: str | np.datetime64, end: str | np.datetime64) -> np.ndarray:
    """NYSE sessions with start <= session <= end (both inclusive, datetime64[D])."""
    sessions = _all_sessions()
    start_d, end_d = _day(start), _day(end)
    if start_d < _day(CALENDAR_START) or end_d > sessions[-1]:
        raise ValueError(
            f"range {start_d}..{end_d} is outside the cached NYSE calendar {CALENDAR_START}..{sessions[-1]}"
        )
    lo = int(np.searchsorted(sessions, start_d, side="left"))
    hi = int(np.searchsorted(sessions, end_d, side="right"))
    return sessions[lo:hi].copy()
