"""Intraday bars for the broker simulation: the shared minute files (regular session, one row per
minute of 09:30-16:00 ET) and synthetic minute bars with a U-shaped volume profile built from a
daily bar when no minute data exists.

Reached only by tests today; the paper-trading replay feed (#15) uses it for intraday execution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptrade.errors import DataError
from adaptrade.execution.schedule import SESSION_MINUTES, u_shaped_profile

REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class IntradayBars:
    """One session of bars: ISO timestamps and float arrays; `synthetic` says where they came from."""

    timestamps: np.ndarray  # str, ISO with UTC offset
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.close)


def read_minutes(path: Path) -> pd.DataFrame:
    """A shared minute file, regular session only (09:30 <= ET time < 16:00), indexed by ET timestamp."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read intraday file: {exc}", file=path) from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"missing columns {missing}", file=path, row=1)
    ts = pd.to_datetime(df["timestamp"], utc=True).dt.tz_convert("America/New_York")
    df = df.assign(ts=ts).set_index("ts")
    t = df.index.hour * 60 + df.index.minute
    return df[(t >= 570) & (t < 960)]


def session_matrix(minutes: pd.DataFrame) -> tuple[list, np.ndarray]:
    """(session dates, volume [session, 390 minutes]) with NaN where a minute has no bar."""
    dates = sorted(set(minutes.index.date))
    out = np.full((len(dates), SESSION_MINUTES), np.nan)
    pos = {d: i for i, d in enumerate(dates)}
    row = np.array([pos[d] for d in minutes.index.date])
    col = (minutes.index.hour * 60 + minutes.index.minute - 570).to_numpy()
    out[row, col] = minutes["volume"].to_numpy(dtype=float)
    return dates, out


def session_bars(minutes: pd.DataFrame, day) -> IntradayBars:
    """The real minute bars of one session (only minutes that traded)."""
    d = minutes[minutes.index.date == day]
    if d.empty:
        raise DataError(f"no regular-session minutes on {day}")
    return IntradayBars(np.array([t.isoformat() for t in d.index]), *(d[c].to_numpy(dtype=float) for c in REQUIRED[1:]))


def synthetic_session(date: str, o: float, h: float, lo: float, c: float, v: float, n: int = SESSION_MINUTES,
                      seed: int = 0) -> IntradayBars:
    """n synthetic minute bars for one daily bar: U-shaped volume summing to v, a Brownian bridge
    from o to c clipped into [lo, h], with the day's high and low each touched once."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=n)
    walk = np.concatenate([[0.0], np.cumsum(steps)])
    bridge = walk - np.linspace(0, 1, n + 1) * walk[-1]
    scale = (h - lo) / 4.0 / max(np.abs(bridge).max(), 1e-12)
    path = np.clip(np.linspace(o, c, n + 1) + bridge * scale, lo, h)
    opens, closes = path[:-1], path[1:]
    highs, lows = np.maximum(opens, closes), np.minimum(opens, closes)
    highs[int(np.argmax(highs))] = h
    lows[int(np.argmin(lows))] = lo
    vol = v * u_shaped_profile(n)
    start = pd.Timestamp(f"{date} 09:30", tz="America/New_York")
    ts = np.array([(start + pd.Timedelta(minutes=k)).isoformat() for k in range(n)])
    return IntradayBars(ts, opens, highs, lows, closes, vol, synthetic=True)


def minute_files(directory: Path, symbol: str) -> list[Path]:
    """The shared 1-minute files of a symbol (`SYMBOL_1min_*.csv`), sorted."""
    return sorted(Path(directory).glob(f"{symbol.upper()}_1min_*.csv"))


def session_for(symbol: str, date: str, daily: tuple[float, float, float, float, float], directory: Path | None,
                n_buckets: int = 13, seed: int = 0) -> tuple[IntradayBars, np.ndarray]:
    """Bars and a past-only VWAP profile for one session: real minutes when a shared file has the date
    (profile from that file's earlier sessions, U-shape if none), else a synthetic U-shaped session."""
    from adaptrade.execution.schedule import profile_from_history

    day = pd.Timestamp(date).date()
    for path in minute_files(directory, symbol) if directory is not None else []:
        m = read_minutes(path)
        dates, vol = session_matrix(m)
        if day in dates:
            k = dates.index(day)
            prof = profile_from_history(vol[:k], n_buckets) if k > 0 else u_shaped_profile(n_buckets)
            return session_bars(m, day), prof
    o, h, lo, c, v = daily
    return synthetic_session(str(day), o, h, lo, c, v, seed=seed), u_shaped_profile(n_buckets)
