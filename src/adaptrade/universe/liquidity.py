"""Liquidity filter: average daily volume over a trailing window that ends BEFORE the backtest
start, so which stocks are traded cannot depend on anything the backtest is about to see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError

# Calendar days loaded before the start: enough for `window` sessions plus holidays and gaps.
_LOOKBACK_DAYS_PER_SESSION = 3
_LOOKBACK_MIN_DAYS = 30


@dataclass(frozen=True)
class LiquidityReport:
    """Kept and dropped symbols with their pre-start average daily volume (shares)."""

    start: str
    window: int
    min_volume: float
    table: pd.DataFrame  # symbol, adv, sessions, last_date, kept, reason

    @property
    def kept(self) -> list[str]:
        return self.table.loc[self.table["kept"], "symbol"].tolist()

    @property
    def dropped(self) -> pd.DataFrame:
        return self.table.loc[~self.table["kept"]].reset_index(drop=True)

    def lines(self) -> list[str]:
        """One line per dropped symbol, e.g. 'PLUG: ADV 131,985 < 1,000,000 (20 sessions to 2011-12-30)'."""
        out = []
        for r in self.dropped.itertuples(index=False):
            if r.reason == "below":
                out.append(f"{r.symbol}: ADV {r.adv:,.0f} < {self.min_volume:,.0f} ({r.sessions} sessions to {r.last_date})")
            else:
                out.append(f"{r.symbol}: {r.reason}")
        return out


def _check(window: int, min_volume: float) -> None:
    if window < 1:
        raise ConfigError(f"liquidity window must be at least 1 session (got {window})", field="liquidity_window")
    if min_volume < 0:
        raise ConfigError(f"minimum volume must be >= 0 (got {min_volume})", field="min_volume")


def liquidity_from_bars(bars: Bars, start: str, window: int = 20, min_volume: float = 1_000_000.0) -> LiquidityReport:
    """Filter on the `window` valid sessions strictly before `start`; later bars are never read."""
    from adaptrade.data.features import average_daily_volume

    _check(window, min_volume)
    day = np.datetime64(start, "D")
    cut = int(np.searchsorted(bars.dates, day, side="left"))  # bars[:, :cut] are all < start
    before = bars.slice_dates(None, bars.dates[cut - 1]) if cut else None
    rows = []
    for i, sym in enumerate(bars.symbols):
        valid = before.valid[i] if before is not None else np.zeros(0, dtype=bool)
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            rows.append((sym, np.nan, 0, "", False, "no data before the start"))
            continue
        n = min(len(idx), window)
        if n < window:
            rows.append((sym, np.nan, n, str(before.dates[idx[-1]]), False, f"only {n} sessions before the start (< {window})"))  # type: ignore[union-attr]
            continue
        adv = float(average_daily_volume(before.volume[i : i + 1], before.valid[i : i + 1], window)[0, idx[-1]])  # type: ignore[union-attr]
        ok = bool(np.isfinite(adv) and adv >= min_volume)
        rows.append((sym, adv, n, str(before.dates[idx[-1]]), ok, "" if ok else "below"))  # type: ignore[union-attr]
    table = pd.DataFrame(rows, columns=["symbol", "adv", "sessions", "last_date", "kept", "reason"])
    return LiquidityReport(str(day), window, float(min_volume), table)


def liquidity_filter(data_dir: Path, symbols: Sequence[str], start: str, *, window: int = 20,
                     min_volume: float = 1_000_000.0, cache_dir: Path | None = None, policy: str = "drop") -> LiquidityReport:
    """Load only the sessions before `start` from the archive and apply `liquidity_from_bars`."""
    from adaptrade.data.archive import available_symbols, load_archive

    _check(window, min_volume)
    try:
        day = np.datetime64(start, "D")
    except ValueError:
        raise ConfigError(f"start '{start}' is not a date (YYYY-MM-DD)", field="start") from None
    lookback = max(_LOOKBACK_MIN_DAYS, window * _LOOKBACK_DAYS_PER_SESSION)
    have = available_symbols(Path(data_dir))
    known = [s for s in symbols if s in have]
    missing = [(s, np.nan, 0, "", False, "no data file") for s in symbols if s not in have]
    parts = []
    if known:
        bars, _ = load_archive(Path(data_dir), known, policy=policy, cache_dir=cache_dir,  # type: ignore[arg-type]
                               start=str(day - np.timedelta64(lookback, "D")), end=str(day - np.timedelta64(1, "D")))
        parts.append(liquidity_from_bars(bars, str(day), window, min_volume).table)
    if missing:
        parts.append(pd.DataFrame(missing, columns=["symbol", "adv", "sessions", "last_date", "kept", "reason"]))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["symbol", "adv", "sessions", "last_date", "kept", "reason"])
    order = {s: i for i, s in enumerate(symbols)}
    table = table.sort_values("symbol", key=lambda c: c.map(order)).reset_index(drop=True)
    return LiquidityReport(str(day), window, float(min_volume), table)
