"""`Bars`: the one market-data form every source produces and every consumer reads.

Dates are `datetime64[D]` (a union calendar), symbols a tuple, and OHLCV 2-D float64
arrays shaped `[symbol, t]`, with `valid[symbol, t]` False (and NaN prices) where a symbol
did not trade. No per-bar Python objects: the engine reads these arrays directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from adaptrade.errors import UnknownSymbolError
from adaptrade.memory import release_free_memory

FIELDS = ("open", "high", "low", "close", "volume")
RELEASE_EVERY = 64  # from_columns(consume=True) hands freed input memory back to the system every this many symbols


@dataclass(frozen=True)
class Bars:
    """Aligned daily OHLCV for many symbols; `adj_close` is None when the source has none."""

    dates: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    valid: np.ndarray
    adj_close: np.ndarray | None = None
    source: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n, t = len(self.symbols), len(self.dates)
        for name in FIELDS + ("valid",):
            arr = getattr(self, name)
            if arr.shape != (n, t):
                raise ValueError(f"Bars.{name} has shape {arr.shape}, expected {(n, t)}")
        if self.adj_close is not None and self.adj_close.shape != (n, t):
            raise ValueError(f"Bars.adj_close has shape {self.adj_close.shape}, expected {(n, t)}")
        if self.dates.dtype != np.dtype("datetime64[D]"):
            raise ValueError("Bars.dates must be datetime64[D]")
        self._index.update({s: i for i, s in enumerate(self.symbols)})

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def n_bars(self) -> int:
        return len(self.dates)

    def index_of(self, symbol: str) -> int:
        """Row of `symbol`; an unknown symbol is an error that names it."""
        try:
            return self._index[symbol]
        except KeyError:
            raise UnknownSymbolError(f"unknown symbol '{symbol}' (not in these bars)") from None

    def select(self, symbols: Iterable[str]) -> "Bars":
        """The same bars for a subset of symbols, in the order given."""
        rows = [self.index_of(s) for s in symbols]
        take = np.asarray(rows, dtype=np.intp)
        return Bars(
            dates=self.dates,
            symbols=tuple(self.symbols[i] for i in rows),
            open=self.open[take],
            high=self.high[take],
            low=self.low[take],
            close=self.close[take],
            volume=self.volume[take],
            valid=self.valid[take],
            adj_close=None if self.adj_close is None else self.adj_close[take],
            source=self.source,
        )

    def slice_dates(self, start: str | np.datetime64 | None = None, end: str | np.datetime64 | None = None) -> "Bars":
        """Bars with start <= date <= end (inclusive); a view, not a copy."""
        lo = 0 if start is None else int(np.searchsorted(self.dates, np.datetime64(start, "D"), side="left"))
        hi = self.n_bars if end is None else int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        sl = slice(lo, hi)
        return Bars(
            dates=self.dates[sl],
            symbols=self.symbols,
            open=self.open[:, sl],
            high=self.high[:, sl],
            low=self.low[:, sl],
            close=self.close[:, sl],
            volume=self.volume[:, sl],
            valid=self.valid[:, sl],
            adj_close=None if self.adj_close is None else self.adj_close[:, sl],
            source=self.source,
        )

    def adjusted(self, in_place: bool = False) -> "Bars":
        """Total-return OHLC: every price scaled by adj_close / close (identity when no adj_close).

        The factor is constant between ex-dates, so price *differences* within a segment only
        rescale and RSI decisions use the total return, which is known at each bar (no look-ahead).
        `in_place`: overwrite this object's price arrays (a loader that owns them; saves 3 copies of the universe).
        """
        if self.adj_close is None:
            return self
        with np.errstate(invalid="ignore", divide="ignore"):
            f = self.adj_close / self.close
        if in_place:
            for a in (self.open, self.high, self.low):
                np.multiply(a, f, out=a)
            np.copyto(self.close, self.adj_close)
            opn, high, low, close = self.open, self.high, self.low, self.close
        else:
            opn, high, low, close = self.open * f, self.high * f, self.low * f, self.adj_close.copy()
        return Bars(
            dates=self.dates,
            symbols=self.symbols,
            open=opn,
            high=high,
            low=low,
            close=close,
            volume=self.volume,
            valid=self.valid,
            adj_close=self.adj_close,
            source=self.source + "+adjusted",
        )

    def to_frame(self, symbol: str):  # -> pandas.DataFrame
        """One symbol's valid bars as a pandas DataFrame indexed by date (for users and tests)."""
        import pandas as pd

        i = self.index_of(symbol)
        m = self.valid[i]
        cols = {name: getattr(self, name)[i, m] for name in FIELDS}
        if self.adj_close is not None:
            cols["adj_close"] = self.adj_close[i, m]
        return pd.DataFrame(cols, index=pd.DatetimeIndex(self.dates[m], name="date"))

    @classmethod
    def from_columns(cls, symbols: Sequence[str], series: Sequence[Mapping[str, np.ndarray] | None], source: str = "",
                     consume: bool = False) -> "Bars":
        """Scatter per-symbol columns (`date` as datetime64[D], OHLCV, optional `adj_close`) onto the
        union of their dates, without per-row Python work. `adj_close` is kept only if every symbol has it.
        `consume` (`series` a list the caller gives up): each symbol's columns are dropped from it once scattered and
        the output rows are written as they come, so the input and the output are never both whole in memory."""
        n = len(symbols)
        days = [np.asarray(s["date"]).astype("datetime64[D]").astype("int64") for s in series]  # type: ignore[index]
        nonempty = [x for x in days if len(x)]
        if nonempty:
            first = min(int(x.min()) for x in nonempty)
            present = np.zeros(max(int(x.max()) for x in nonempty) - first + 1, dtype=bool)
            for x in nonempty:
                present[x - first] = True
            rank = np.cumsum(present) - 1
            dates = (np.flatnonzero(present) + first).astype("datetime64[D]")
        else:
            first, rank, dates = 0, np.zeros(0, dtype=np.int64), np.array([], dtype="datetime64[D]")
        t = len(dates)
        has_adj = n > 0 and all(s is not None and "adj_close" in s for s in series)
        names = FIELDS + (("adj_close",) if has_adj else ())
        arrays = {k: np.empty((n, t)) for k in names}  # each row NaN-filled when it is written (pages touched then)
        valid = np.zeros((n, t), dtype=bool)
        for i, x in enumerate(days):
            s = series[i]
            assert s is not None
            pos = rank[x - first]
            for k in names:
                row = arrays[k][i]
                row.fill(np.nan)
                row[pos] = np.asarray(s[k], dtype=np.float64)
            valid[i, pos] = True
            if consume:
                series[i] = None  # type: ignore[index]
                del s
                if i % RELEASE_EVERY == RELEASE_EVERY - 1:
                    release_free_memory()  # the dropped inputs' pages, before the next rows take new ones
        valid &= np.isfinite(arrays["close"])
        return cls(dates=dates, symbols=tuple(symbols), open=arrays["open"], high=arrays["high"], low=arrays["low"],
                   close=arrays["close"], volume=arrays["volume"], valid=valid, adj_close=arrays.get("adj_close"),
                   source=source)

    @classmethod
    def from_frames(cls, frames: Mapping[str, Any], source: str = "") -> "Bars":
        """Align per-symbol DataFrames (date index, OHLCV columns, optional adj_close) on the union of their dates."""
        import pandas as pd

        series = []
        for f in frames.values():
            cols = {"date": pd.DatetimeIndex(f.index).values.astype("datetime64[D]")}
            cols.update({k: f[k].to_numpy(dtype=np.float64) for k in FIELDS + ("adj_close",) if k in f.columns})
            series.append(cols)
        return cls.from_columns(list(frames), series, source)
