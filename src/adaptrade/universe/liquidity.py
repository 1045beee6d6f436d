"""Liquidity filter: average daily volume over a trailing window that ends BEFORE the backtest
start, so which stocks are traded cannot depend on prices or volumes the backtest is about to see.

One caveat: the archive's share volumes (and prices) are split-adjusted as of the file's date
(2024), so before a split a stock shows more shares than were traded (AAPL on 2000-01-03:
535,796,800 shares, about 4.8 million traded). A share threshold therefore admits stocks that
will split later, mostly past winners: a look-ahead through the adjustment. The dollar volume
(close x volume, both adjusted by the same split factor) does not change with splits;
`min_dollar_volume` filters on it instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError

SPLIT_NOTE = ("share volumes are split-adjusted as of 2024, so a stock that splits after the start shows more shares than "
              "were traded and passes a share threshold more easily (a look-ahead favouring later winners); "
              "--min-dollar-volume filters on close x volume, which splits do not change")

# Calendar days loaded before the start: enough for `window` sessions plus holidays and gaps.
_LOOKBACK_DAYS_PER_SESSION = 3
_LOOKBACK_MIN_DAYS = 30


COLUMNS = ["symbol", "adv", "adv_dollars", "sessions", "last_date", "kept", "reason"]


@dataclass(frozen=True)
class LiquidityReport:
    """Kept and dropped symbols with their pre-start average daily volume (shares and dollars)."""

    start: str
    window: int
    min_volume: float
    table: pd.DataFrame  # symbol, adv (shares), adv_dollars (close x volume), sessions, last_date, kept, reason
    min_dollar_volume: float | None = None  # when set, the filter is on adv_dollars and min_volume is not used

    @property
    def measure(self) -> str:
        """What the threshold applies to, e.g. 'ADV over 20 sessions before 2012-01-03, min 1,000,000 shares'."""
        what = (f"min ${self.min_dollar_volume:,.0f} a day (close x volume)" if self.min_dollar_volume is not None
                else f"min {self.min_volume:,.0f} shares a day")
        return f"average over {self.window} sessions before {self.start}, {what}"

    @property
    def split_caveat(self) -> str | None:
        """The look-ahead caveat of a share threshold on split-adjusted volumes (None for the dollar filter)."""
        return None if self.min_dollar_volume is not None else SPLIT_NOTE

    @property
    def kept(self) -> list[str]:
        return self.table.loc[self.table["kept"], "symbol"].tolist()

    @property
    def dropped(self) -> pd.DataFrame:
        return self.table.loc[~self.table["kept"]].reset_index(drop=True)

    def lines(self) -> list[str]:
        """One line per dropped symbol, e.g. 'PLUG: ADV 131,985 < 1,000,000 (20 sessions to 2011-12-30)'
        or, with the dollar filter, 'PLUG: ADV $310,522 < $5,000,000 (...)'."""
        out = []
        for r in self.dropped.itertuples(index=False):
            if r.reason == "below" and self.min_dollar_volume is not None:
                out.append(f"{r.symbol}: ADV ${r.adv_dollars:,.0f} < ${self.min_dollar_volume:,.0f} ({r.sessions} sessions to {r.last_date})")
            elif r.reason == "below":
                out.append(f"{r.symbol}: ADV {r.adv:,.0f} < {self.min_volume:,.0f} ({r.sessions} sessions to {r.last_date})")
            else:
                out.append(f"{r.symbol}: {r.reason}")
        return out


def check_thresholds(min_volume: float | None, min_dollar_volume: float | None) -> None:
    """The share and the dollar threshold replace each other: giving both is an error."""
    if min_volume is not None and min_dollar_volume is not None:
        raise ConfigError("give --min-volume or --min-dollar-volume, not both", field="min_dollar_volume")


def _check(window: int, min_volume: float, min_dollar_volume: float | None = None) -> None:
    if window < 1:
        raise ConfigError(f"liquidity window must be at least 1 session (got {window})", field="liquidity_window")
    if min_volume < 0:
        raise ConfigError(f"minimum volume must be >= 0 (got {min_volume})", field="min_volume")
    if min_dollar_volume is not None and not min_dollar_volume >= 0:
        raise ConfigError(f"minimum dollar volume must be >= 0 (got {min_dollar_volume})", field="min_dollar_volume")


def liquidity_from_bars(bars: Bars, start: str, window: int = 20, min_volume: float = 1_000_000.0,
                        min_dollar_volume: float | None = None) -> LiquidityReport:
    """Filter on the `window` valid sessions strictly before `start`; later bars are never read.

    The threshold is on shares (`min_volume`) or, when `min_dollar_volume` is given, on the
    average close x volume over the same sessions (split-invariant; `min_volume` is then unused).
    """
    from adaptrade.data.features import average_daily_volume

    _check(window, min_volume, min_dollar_volume)
    day = np.datetime64(start, "D")
    cut = int(np.searchsorted(bars.dates, day, side="left"))  # bars[:, :cut] are all < start
    before = bars.slice_dates(None, bars.dates[cut - 1]) if cut else None
    rows = []
    for i, sym in enumerate(bars.symbols):
        valid = before.valid[i] if before is not None else np.zeros(0, dtype=bool)
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            rows.append((sym, np.nan, np.nan, 0, "", False, "no data before the start"))
            continue
        n = min(len(idx), window)
        if n < window:
            rows.append((sym, np.nan, np.nan, n, str(before.dates[idx[-1]]), False, f"only {n} sessions before the start (< {window})"))  # type: ignore[union-attr]
            continue
        vol, ok_rows = before.volume[i : i + 1], before.valid[i : i + 1]  # type: ignore[union-attr]
        adv = float(average_daily_volume(vol, ok_rows, window)[0, idx[-1]])
        dollars = float(average_daily_volume(vol * before.close[i : i + 1], ok_rows, window)[0, idx[-1]])  # type: ignore[union-attr]
        level, need = (dollars, min_dollar_volume) if min_dollar_volume is not None else (adv, min_volume)
        ok = bool(np.isfinite(level) and level >= need)
        rows.append((sym, adv, dollars, n, str(before.dates[idx[-1]]), ok, "" if ok else "below"))  # type: ignore[union-attr]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return LiquidityReport(str(day), window, float(min_volume), table, _dollars(min_dollar_volume))


def _dollars(v: float | None) -> float | None:
    return None if v is None else float(v)


def liquidity_filter(data_dir: Path, symbols: Sequence[str], start: str, *, window: int = 20,
                     min_volume: float = 1_000_000.0, cache_dir: Path | None = None, policy: str = "drop",
                     min_dollar_volume: float | None = None) -> LiquidityReport:
    """Load only the sessions before `start` from the archive and apply `liquidity_from_bars`."""
    from adaptrade.data.archive import available_symbols, load_archive

    _check(window, min_volume, min_dollar_volume)
    try:
        day = np.datetime64(start, "D")
    except ValueError:
        raise ConfigError(f"start '{start}' is not a date (YYYY-MM-DD)", field="start") from None
    lookback = max(_LOOKBACK_MIN_DAYS, window * _LOOKBACK_DAYS_PER_SESSION)
    have = available_symbols(Path(data_dir))
    known = [s for s in symbols if s in have]
    missing = [(s, np.nan, np.nan, 0, "", False, "no data file") for s in symbols if s not in have]
    parts = []
    if known:
        bars, _ = load_archive(Path(data_dir), known, policy=policy, cache_dir=cache_dir,  # type: ignore[arg-type]
                               start=str(day - np.timedelta64(lookback, "D")), end=str(day - np.timedelta64(1, "D")))
        parts.append(liquidity_from_bars(bars, str(day), window, min_volume, min_dollar_volume).table)
    if missing:
        parts.append(pd.DataFrame(missing, columns=COLUMNS))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    order = {s: i for i, s in enumerate(symbols)}
    table = table.sort_values("symbol", key=lambda c: c.map(order)).reset_index(drop=True)
    return LiquidityReport(str(day), window, float(min_volume), table, _dollars(min_dollar_volume))
