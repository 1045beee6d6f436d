"""NYSE trading sessions as `datetime64[D]` arrays: built once per process, optionally kept on
disk (under the cache folder) because importing and building `exchange_calendars`' XNYS costs
~0.3-0.5 s per process. The one place adaptrade gets its trading calendar from."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from adaptrade.errors import ConfigError

CALENDAR_NAME = "XNYS"
CALENDAR_START = "1990-01-01"


def _build(start: str) -> np.ndarray:
    """Every XNYS session from `start` to the calendar's default end (about a year ahead)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar(CALENDAR_NAME, start=start)
    return np.asarray(cal.sessions.values, dtype="datetime64[ns]").astype("datetime64[D]")


@lru_cache(maxsize=4)
def _all_sessions(start: str = CALENDAR_START, cache_dir: str | None = None) -> np.ndarray:
    """The session array (read-only); from `cache_dir/calendar/` when present, written there once a day."""
    if cache_dir is None:
        sessions = _build(start)
    else:
        path = Path(cache_dir) / "calendar" / f"{CALENDAR_NAME}-{version('exchange-calendars')}-{start}-{date.today()}.npy"
        try:
            sessions = np.load(path)
        except (OSError, ValueError):
            sessions = _build(start)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, sessions)
            os.replace(tmp, path)
    sessions.setflags(write=False)
    return sessions


def parse_day(value: str | np.datetime64, name: str = "date") -> np.datetime64:
    """A date-like value as `datetime64[D]`; anything else is a ConfigError naming the option."""
    try:
        day = np.datetime64(value, "D")
    except (ValueError, TypeError):
        raise ConfigError(f"{name} '{value}' is not a date (YYYY-MM-DD)", field=name) from None
    if np.isnat(day):
        raise ConfigError(f"{name} '{value}' is not a date (YYYY-MM-DD)", field=name)
    return day



def _sessions_from(start_d: np.datetime64, cache_dir: Path | str | None) -> np.ndarray:
    start = CALENDAR_START if start_d >= parse_day(CALENDAR_START) else str(start_d)
    return _all_sessions(start, None if cache_dir is None else str(cache_dir))


def nyse_sessions(end: str | np.datetime64, n: int, cache_dir: Path | str | None = None) -> np.ndarray:
    """The last `n` NYSE sessions on or before `end` (datetime64[D], ascending): synthetic data's calendar."""
    if n < 0:
        raise ConfigError(f"number of sessions must be >= 0, got {n}", field="bars")
    sessions = _sessions_from(parse_day(CALENDAR_START), cache_dir)
    end_d = parse_day(end, "end")
    if end_d > sessions[-1]:
        raise ConfigError(f"end {end_d} is after the last known NYSE session {sessions[-1]}", field="end")
    hi = int(np.searchsorted(sessions, end_d, side="right"))
    if n > hi:
        raise ConfigError(f"only {hi} NYSE sessions between {sessions[0]} and {end_d}; asked for {n}", field="bars")
    return sessions[hi - n : hi].copy()


def nyse_sessions_between(
    start: str | np.datetime64, end: str | np.datetime64, cache_dir: Path | str | None = None
) -> np.ndarray:
    """NYSE sessions with start <= session <= end (both inclusive, datetime64[D])."""
    start_d, end_d = parse_day(start, "start"), parse_day(end, "end")
    sessions = _sessions_from(start_d, cache_dir)
    if end_d > sessions[-1]:
        raise ConfigError(f"range {start_d}..{end_d} ends after the last known NYSE session {sessions[-1]}", field="end")
    lo = int(np.searchsorted(sessions, start_d, side="left"))
    hi = int(np.searchsorted(sessions, end_d, side="right"))
    return sessions[lo:hi].copy()
