"""The replay feed: archived or synthetic daily bars played as if live, one batch per NYSE session
(holidays have no session; a half day is a session like any other for daily bars), at a chosen speed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.data.calendar import nyse_sessions_between
from adaptrade.errors import DataError


@dataclass(frozen=True)
class SessionBars:
    """The bars of one session, as known after its close: index in the replay, date, per-symbol arrays."""

    index: int
    date: np.datetime64
    symbols: tuple[str, ...]
    open: np.ndarray
    close: np.ndarray
    valid: np.ndarray


class ReplayFeed:
    """Plays `bars` session by session on the exchange calendar; `speed` sessions per second (0 = no pause)."""

    def __init__(self, bars: Bars, speed: float = 0.0, cache_dir: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.bars = bars
        self.speed = speed
        self._sleep = sleep
        cal = nyse_sessions_between(bars.dates[0], bars.dates[-1], cache_dir)
        extra = np.setdiff1d(bars.dates, cal)
        if len(extra):  # a bar on a day the exchange was closed is a data error, not a session
            raise DataError(f"bar dated {extra[0]} is not an NYSE session", field="date")
        self.sessions = cal
        self._col = np.searchsorted(bars.dates, cal)  # column of each session in `bars` (when present)
        self._has = np.isin(cal, bars.dates)

    def __len__(self) -> int:
        return len(self.sessions)

    def session(self, k: int) -> SessionBars:
        """Session k's bars (a session without any bar in the data: every symbol invalid)."""
        b = self.bars
        n = b.n_symbols
        if not self._has[k]:
            nan = np.full(n, np.nan)
            return SessionBars(k, self.sessions[k], b.symbols, nan, nan.copy(), np.zeros(n, dtype=np.bool_))
        j = int(self._col[k])
        return SessionBars(k, self.sessions[k], b.symbols, b.open[:, j].copy(), b.close[:, j].copy(), b.valid[:, j].copy())

    def replay(self, start: int = 0) -> Iterator[SessionBars]:
        """Sessions from `start` on, paced at `speed` sessions per second."""
        for k in range(start, len(self.sessions)):
            if self.speed > 0 and k > start:
                self._sleep(1.0 / self.speed)
            yield self.session(k)
