"""Archive validation: refuse untrustworthy values, repair recoverable defects by policy, report it all.

Two tiers. `check_columns` refuses a file outright (bad number, non-positive price, broken OHLC,
duplicate/unordered dates) with a `DataError` naming file, line and field. `repair` handles the
recoverable defects (missing NYSE sessions, zero volume, NaN rows, split-like jumps) according to
the repair policy and counts every one of them in a `QualityReport`; nothing is fixed silently.
Everything here works on whole numpy columns: only the symbol loop is Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from adaptrade.errors import ConfigError, DataError
from adaptrade.settings import RepairPolicy

PRICES = ("open", "high", "low", "close")
POLICIES: tuple[RepairPolicy, ...] = ("error", "drop", "ffill")
Columns = dict[str, np.ndarray]
Where = Callable[[int], "int | str"]
_Check = tuple[np.ndarray, str, Callable[[int], str]]


def check_policy(policy: str) -> RepairPolicy:
    """Return `policy` if it is a known repair policy, else a ConfigError listing the choices."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown repair policy '{policy}' (choose one of {', '.join(POLICIES)})")
    return policy  # type: ignore[return-value]


def _later(n: int, pair_mask: np.ndarray) -> np.ndarray:
    """Lift a mask over consecutive pairs (length n-1) to the later row of each pair (length n)."""
    out = np.zeros(n, dtype=bool)
    out[1:] = pair_mask
    return out


def check_columns(cols: Columns, file: Path, where: Where) -> Columns:
    """Refuse values that cannot be trusted (the earliest bad row wins) and return the cleaned columns.

    Rows whose four prices are all empty/NaN are kept (NaN rows are recoverable, see `repair`);
    rows whose four prices are all exactly 0 are Yahoo's pre-listing placeholders and become NaN rows.
    """
    d = cols["date"]
    price = np.vstack([cols[k] for k in PRICES])
    placeholder = (price == 0).all(axis=0)
    if placeholder.any():
        cols = dict(cols)
        for k in PRICES + ("adj_close",):
            if k in cols:
                cols[k] = np.where(placeholder, np.nan, cols[k])
        price = np.vstack([cols[k] for k in PRICES])
    nan = np.isnan(price)
    live = ~nan.all(axis=0)
    o, h, lo, c = price
    v = cols["volume"]
    checks = date_checks(d)
    for j, k in enumerate(PRICES):
        checks += _price_checks(d, live, price[j], k)
    with np.errstate(invalid="ignore"):
        top = np.maximum(o, c)
        bottom = np.minimum(o, c)
        checks += [
            (live & (h < lo), "high", lambda i: f"{d[i]}: high {h[i]} < low {lo[i]}"),
            (live & (h < top - 1e-9 * top), "high", lambda i: f"{d[i]}: high {h[i]} < max(open, close) {top[i]}"),
            (live & (lo > bottom + 1e-9 * bottom), "low", lambda i: f"{d[i]}: low {lo[i]} > min(open, close) {bottom[i]}"),
            (live & ~np.isfinite(v), "volume", lambda i: f"{d[i]}: volume is empty or not finite ({v[i]})"),
            (live & (v < 0), "volume", lambda i: f"{d[i]}: negative volume {v[i]}"),
        ]
        if "adj_close" in cols:
            a = cols["adj_close"]
            checks.append((live & ~np.isfinite(a), "adj_close", lambda i: f"{d[i]}: adj_close is empty or not finite ({a[i]})"))
            checks.append((live & (a <= 0), "adj_close", lambda i: f"{d[i]}: non-positive adj_close {a[i]}"))
    raise_first(checks, file, where)
    return cols


def _price_checks(d: np.ndarray, live: np.ndarray, p: np.ndarray, k: str) -> list[_Check]:
    """Checks of one price column on the priced rows: present, finite, positive."""
    with np.errstate(invalid="ignore"):
        return [
            (live & np.isnan(p), k, lambda i: f"{d[i]}: empty {k} while other prices of the row are present"),
            (live & np.isinf(p), k, lambda i: f"{d[i]}: price {p[i]} is not finite"),
            (live & (p <= 0), k, lambda i: f"{d[i]}: non-positive price {p[i]}"),
        ]


def date_checks(d: np.ndarray) -> list[_Check]:
    """Checks of a date column: present, no duplicates, ascending."""
    n = len(d)
    di = d.astype("int64")
    nat = np.isnat(d)
    step = np.diff(di)
    both = ~nat[1:] & ~nat[:-1]
    return [
        (nat, "date", lambda i: "missing date (empty line or empty date field)"),
        (_later(n, both & (step == 0)), "date", lambda i: f"duplicate date {d[i]}"),
        (_later(n, both & (step < 0)), "date",
         lambda i: f"date {d[i]} is before the previous row's {d[i - 1]} (dates must ascend)"),
    ]


def raise_first(checks: Sequence[_Check], file: Path, where: Where) -> None:
    """Raise a DataError for the earliest row failing any check (ties: the first check listed)."""
    best: tuple[int, str, Callable[[int], str]] | None = None
    for mask, fld, msg in checks:
        if mask.any():
            i = int(mask.argmax())
            if best is None or i < best[0]:
                best = (i, fld, msg)
    if best is not None:
        i, fld, msg = best
        raise DataError(msg(i), file=file, row=where(i), field=fld)


def check_series(d: np.ndarray, close: np.ndarray, file: Path, where: Where) -> None:
    """Refuse a benchmark series with bad dates or a missing / non-positive close."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(close) | (close <= 0)
    raise_first(date_checks(d) + [(bad, "close", lambda i: f"{d[i]}: close {close[i]} is missing or not positive")],
                file, where)


@dataclass(frozen=True)
class SymbolQuality:
    """One symbol's row of the quality report: what was found and how many rows were repaired."""

    symbol: str
    file: str
    rows: int
    first_date: str | None
    last_date: str | None
    missing_sessions: int = 0
    zero_volume: int = 0
    nan_rows: int = 0
    jumps: int = 0
    repaired: int = 0

    @property
    def defects(self) -> int:
        """Number of recoverable defects found (the same under every policy)."""
        return self.missing_sessions + self.zero_volume + self.nan_rows + self.jumps


COUNTS = ("rows", "missing_sessions", "zero_volume", "nan_rows", "jumps", "repaired")


@dataclass(frozen=True)
class QualityReport:
    """Per-symbol defect counts and repairs of one load, returned with the bars so nothing is silent."""

    policy: str
    jump_threshold: float
    symbols: tuple[SymbolQuality, ...]

    def __getitem__(self, symbol: str) -> SymbolQuality:
        """The row of `symbol` (KeyError if it was not loaded)."""
        for q in self.symbols:
            if q.symbol == symbol:
                return q
        raise KeyError(symbol)

    @property
    def totals(self) -> dict[str, int]:
        """Sums of every count over all symbols, plus how many symbols were loaded and had defects."""
        out = {k: sum(getattr(q, k) for q in self.symbols) for k in COUNTS}
        out["symbols"] = len(self.symbols)
        out["symbols_with_defects"] = sum(q.defects > 0 for q in self.symbols)
        return out

    def to_frame(self) -> Any:  # -> pandas.DataFrame
        """One row per symbol (columns as in `SymbolQuality`), for analysis and export."""
        import pandas as pd

        cols = [f.name for f in fields(SymbolQuality)]
        return pd.DataFrame([asdict(q) for q in self.symbols], columns=cols)

    def render(self, console: Any, *, limit: int = 40) -> None:
        """Print a rich table of the symbols with defects (at most `limit`) and the totals."""
        from rich.table import Table

        bad = [q for q in self.symbols if q.defects or q.repaired]
        t = self.totals
        table = Table(title=f"Data quality (policy {self.policy}, jump threshold {self.jump_threshold:g})")
        for name in ("symbol", "rows", "first", "last", "missing", "zero vol", "NaN rows", "jumps", "repaired"):
            table.add_column(name, justify="left" if name in ("symbol", "first", "last") else "right")
        for q in bad[:limit]:
            table.add_row(q.symbol, f"{q.rows:,}", q.first_date or "-", q.last_date or "-", str(q.missing_sessions),
                          str(q.zero_volume), str(q.nan_rows), str(q.jumps), str(q.repaired))
        if len(bad) > limit:
            table.add_row(f"... {len(bad) - limit} more", "", "", "", "", "", "", "", "")
        table.add_row("TOTAL", f"{t['rows']:,}", "", "", str(t["missing_sessions"]), str(t["zero_volume"]),
                      str(t["nan_rows"]), str(t["jumps"]), str(t["repaired"]), style="bold")
        if bad:
            console.print(table)
        console.print(f"{t['symbols']} symbols, {t['rows']:,} rows; {t['symbols_with_defects']} with recoverable "
                      f"defects; {t['repaired']} rows repaired under policy '{self.policy}'.")


def _ffill(cols: Columns, nan: np.ndarray, missing: np.ndarray) -> tuple[Columns, int]:
    """Flat bars at the previous close (volume 0) for NaN rows and missing sessions; count rows changed."""
    n = len(nan)
    last = np.where(~nan, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    fill, lead = nan & (last >= 0), nan & (last < 0)
    out = {k: a.copy() for k, a in cols.items()}
    src = last[fill]
    for k in PRICES:
        out[k][fill] = cols["close"][src]
    out["volume"][fill] = 0.0
    if "adj_close" in out:
        out["adj_close"][fill] = cols["adj_close"][src]
    if lead.any():  # nothing before them to carry forward: removed
        out = {k: a[~lead] for k, a in out.items()}
    d = out["date"]
    at = np.searchsorted(d, missing)
    ok = at > 0  # a missing session before the first kept row cannot be filled: left absent
    at, prev = at[ok], at[ok] - 1
    if at.size:
        new = {k: out["close"][prev] for k in PRICES}
        new["date"], new["volume"] = missing[ok], np.zeros(at.size)
        if "adj_close" in out:
            new["adj_close"] = out["adj_close"][prev]
        out = {k: np.insert(a, at, new[k]) for k, a in out.items()}
    return out, int(fill.sum() + lead.sum() + at.size)


def repair(symbol: str, file: Path, cols: Columns, *, policy: RepairPolicy, jump_threshold: float,
           sessions: np.ndarray, where: Where) -> tuple[Columns, SymbolQuality]:
    """Find the recoverable defects of one symbol's checked columns and apply the repair policy."""
    d = cols["date"]
    n = len(d)
    if n == 0:
        return cols, SymbolQuality(symbol, str(file), 0, None, None)
    c, v = cols["close"], cols["volume"]
    nan = np.isnan(c)
    zero = ~nan & (v == 0)
    live = np.flatnonzero(~nan)
    ratio = c[live[1:]] / c[live[:-1]]
    jump = live[1:][(ratio > jump_threshold) | (ratio < 1.0 / jump_threshold)]
    span = sessions[np.searchsorted(sessions, d[0]): np.searchsorted(sessions, d[-1], side="right")]
    pos = np.searchsorted(d, span)
    absent = d[np.minimum(pos, n - 1)] != span
    missing, missing_at = span[absent], pos[absent]
    counts = dict(missing_sessions=int(missing.size), zero_volume=int(zero.sum()), nan_rows=int(nan.sum()),
                  jumps=int(jump.size))
    if policy == "error":
        _raise_first(file, d, c, nan, zero, jump, missing, missing_at, jump_threshold, where)
        out, repaired = cols, 0
    elif policy == "drop":
        keep = ~(nan | zero)
        repaired = int(n - keep.sum())
        out = {k: a[keep] for k, a in cols.items()} if repaired else cols
    else:
        out, repaired = _ffill(cols, nan, missing)
    return out, SymbolQuality(symbol, str(file), n, str(d[0]), str(d[-1]), repaired=repaired, **counts)


def _raise_first(file: Path, d: np.ndarray, c: np.ndarray, nan: np.ndarray, zero: np.ndarray, jump: np.ndarray,
                 missing: np.ndarray, missing_at: np.ndarray, thr: float, where: Where) -> None:
    """Under policy 'error': raise a DataError for the earliest recoverable defect, if any."""
    hint = "repair policy 'error'; use drop or ffill to load it anyway"
    found: list[tuple[np.datetime64, int | str, str, str]] = []
    if nan.any():
        i = int(nan.argmax())
        found.append((d[i], where(i), "close", f"{d[i]}: NaN row (no prices)"))
    if zero.any():
        i = int(zero.argmax())
        found.append((d[i], where(i), "volume", f"{d[i]}: zero volume"))
    if jump.size:
        i = int(jump[0])
        prev = c[:i][~nan[:i]][-1]
        found.append((d[i], where(i), "close", f"{d[i]}: close jumped {prev:g} -> {c[i]:g} ({c[i] / prev:.3g}x, "
                                                f"threshold {thr:g}), split-like"))
    if missing.size:
        i = int(missing_at[0])
        found.append((missing[0], where(i), "date", f"NYSE session {missing[0]} is missing (no row between "
                                                    f"{d[i - 1]} and {d[i]})"))
    if found:
        _, row, fld, msg = min(found, key=lambda f: f[0])
        raise DataError(f"{msg} ({hint})", file=file, row=row, field=fld)


def nyse_sessions(first: np.datetime64, last: np.datetime64, cache_dir: Path | None = None) -> np.ndarray:
    """NYSE sessions covering [first, last] as datetime64[D] (the shared calendar, disk-cached under cache_dir)."""
    from adaptrade.data.calendar import nyse_sessions_between

    return nyse_sessions_between(first, last, cache_dir)

