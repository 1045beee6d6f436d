"""Archive of per-symbol daily files (`SYMBOL.csv`, `.csv.gz`, `.parquet`) read strictly into `Bars`.

The fast path parses a whole file with pyarrow and checks whole columns with numpy; only when that
fails is the file re-read line by line to name the exact line and field in the `DataError`.
`load_archive` returns the bars together with a `QualityReport`, never one without the other.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from adaptrade.data.bars import Bars
from adaptrade.data.cache import ArchiveCache
from adaptrade.data.validate import (
    PRICES,
    Columns,
    QualityReport,
    Where,
    check_columns,
    check_policy,
    nyse_sessions,
    repair,
)
from adaptrade.errors import ConfigError, DataError, UnknownSymbolError
from adaptrade.settings import RepairPolicy

SUFFIXES = (".parquet", ".csv.gz", ".csv")  # precedence when one symbol has several files
REQUIRED = ("date",) + PRICES + ("volume",)
NUMERIC = PRICES + ("volume", "adj_close")
BENCHMARK_SYMBOLS = frozenset({"SPY", "QQQ", "GSPC"})  # read by load_benchmark, never traded
_TYPES = {"date": pa.date32(), **{k: pa.float64() for k in NUMERIC}}
_NULLS = {"", "nan", "-nan", "null", "na", "n/a", "#n/a", "none"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def archive_folders(data_dir: Path) -> list[Path]:
    """The folders holding symbol files: `ohlcv/daily` then `ohlcv/daily_extended` of a data root, else DIR."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("data directory does not exist or is not a folder", file=data_dir)
    daily = data_dir / "ohlcv" / "daily"
    if daily.is_dir():
        return [f for f in (daily, data_dir / "ohlcv" / "daily_extended") if f.is_dir()]
    return [data_dir]


def _symbol_of(name: str) -> tuple[str, int] | None:
    """(symbol, suffix precedence) of a data file name, None for other files."""
    for rank, suffix in enumerate(SUFFIXES):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], rank
    return None


def available_symbols(data_dir: Path) -> dict[str, Path]:
    """Symbol -> file for every data file under `data_dir` (sorted; first folder and suffix win)."""
    found: dict[str, Path] = {}
    for folder in archive_folders(data_dir):
        here: dict[str, tuple[int, Path]] = {}
        for entry in os.scandir(folder):
            parsed = _symbol_of(entry.name)
            if parsed is None or parsed[0] in BENCHMARK_SYMBOLS or not entry.is_file():
                continue
            sym, rank = parsed
            if sym not in here or rank < here[sym][0]:
                here[sym] = (rank, Path(entry.path))
        for sym, (_, path) in here.items():
            found.setdefault(sym, path)
    return dict(sorted(found.items()))


def no_data_files(data_dir: Path) -> str:
    """The one message for a folder without any symbol file."""
    return (f"no data files in this folder (expected SYMBOL.csv, SYMBOL.csv.gz or SYMBOL.parquet"
            f"{', or a data root with ohlcv/daily/' if Path(data_dir).is_dir() else ''})")


def _open_text(path: Path) -> io.TextIOBase:
    """Text stream of a plain or gzip-compressed file (strict UTF-8)."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _locate(path: Path, exc: Exception) -> DataError:
    """Re-read a CSV that pyarrow refused, line by line, to name the first bad line and field."""
    line, header, blank = 0, None, 0
    try:
        with _open_text(path) as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if header is None:
                    header = [canonical_name(h) for h in row]
                    for col in REQUIRED:
                        if col not in header:
                            return DataError(f"missing column '{col}' (header: {','.join(header)})", file=path, row=1, field=col)
                    continue
                if not row:
                    blank = blank or line
                    continue
                if blank:
                    return DataError("empty line", file=path, row=blank)
                if len(row) != len(header):
                    return DataError(f"{len(row)} fields, expected {len(header)}", file=path, row=line)
                for col, value in zip(header, row):
                    value = value.strip()
                    if col == "date" and not _is_date(value):
                        return DataError(f"bad date '{value}' (expected YYYY-MM-DD)", file=path, row=line, field="date")
                    if col in NUMERIC and value.lower() not in _NULLS and not _parses(float, value):
                        return DataError(f"not a number: '{value}'", file=path, row=line, field=col)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as err:
        return DataError(f"unreadable or corrupt file ({type(err).__name__}: {err}); read up to line {line}",
                         file=path, row=line + 1)
    if header is None:
        return DataError("empty file (no header)", file=path, row=1)
    return DataError(f"cannot be parsed: {exc}", file=path)


# Other spellings of the column names (Yahoo Finance exports `Date,Open,High,Low,Close,Adj Close,Volume`):
# names are matched case-insensitively, spaces and dashes read as underscores; docs/data.md lists them.
ALIASES = {"adjclose": "adj_close", "adjusted_close": "adj_close", "adj_close_price": "adj_close", "timestamp": "date",
           "datetime": "date", "day": "date", "vol": "volume"}


def canonical_name(name: str) -> str:
    """A header as adaptrade names it: ` Adj Close` -> `adj_close`, `Date` -> `date`."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return ALIASES.get(key, key)


def canonical_header(path: Path, names: list[str]) -> list[str]:
    """The canonical names of a header; two columns that map to one name are a DataError."""
    out = [canonical_name(n) for n in names]
    seen: dict[str, str] = {}
    for raw, new in zip(names, out):
        if new in seen and new in REQUIRED + ("adj_close",):
            raise DataError(f"columns '{seen[new]}' and '{raw}' both read as '{new}'", file=path, row=1, field=new)
        seen[new] = raw
    return out


def _csv_header(path: Path) -> list[str] | None:
    """The raw header of a CSV / CSV.GZ (None when it cannot be read; the full parse then says why)."""
    try:
        with _open_text(path) as fh:
            return next(csv.reader(fh), None)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error):
        return None


def _parses(fn: Callable[[str], object], value: str) -> bool:
    """True when fn(value) does not raise ValueError."""
    try:
        fn(value)
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    """True for a real calendar date written YYYY-MM-DD."""
    return bool(_DATE.fullmatch(value)) and _parses(date.fromisoformat, value)


def _read_csv(path: Path) -> tuple[Columns, Where]:
    """Parse a CSV / CSV.GZ with pyarrow; on failure locate the bad line."""
    raw = _csv_header(path)
    names = canonical_header(path, raw) if raw else None
    renamed = names is not None and names != raw
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names if renamed else None,
                                           skip_rows=1 if renamed else 0),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=_TYPES),
        )
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise _locate(path, exc) from None
    for col in REQUIRED:
        if col not in table.column_names:
            raise DataError(f"missing column '{col}' (header: {','.join(table.column_names)})", file=path, row=1, field=col)
    cols = {k: table.column(k).to_numpy() for k in REQUIRED + ("adj_close",) if k in table.column_names}
    empty = np.isnat(cols["date"]) & np.all([np.isnan(cols[k]) for k in NUMERIC if k in cols], axis=0)
    trailing = len(empty) if empty.all() else int(np.argmin(empty[::-1]))
    if trailing:  # blank lines at the very end are harmless
        cols = {k: a[: len(empty) - trailing] for k, a in cols.items()}
    return cols, lambda i: i + 2


def _read_parquet(path: Path) -> tuple[Columns, Where]:
    """Read a Parquet symbol file: date (date, timestamp or ISO text) and numeric (or numeric text) columns."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"unreadable Parquet file ({exc})", file=path) from None
    table = table.rename_columns(canonical_header(path, list(table.column_names)))
    cols: Columns = {}
    for col in REQUIRED + ("adj_close",):
        if col not in table.column_names:
            if col == "adj_close":
                continue
            raise DataError(f"missing column '{col}' (columns: {','.join(table.column_names)})", file=path, field=col)
        arr = table.column(col)
        try:
            cols[col] = arr.cast(pa.date32() if col == "date" else pa.float64()).to_numpy()
        except (pa.ArrowException, ValueError):
            for i, v in enumerate(arr.to_pylist()):
                if v is not None and not (_is_date(str(v)) if col == "date" else _parses(float, str(v))):
                    raise DataError(f"bad value '{v}' for {col}", file=path, row=str(i + 1), field=col) from None
            raise DataError(f"column of type {arr.type} cannot be read as {col}", file=path, field=col) from None
    return cols, lambda i: str(i + 1)


def parse_columns(path: Path) -> tuple[Columns, Where]:
    """Parse one file (columns present, numbers and dates well-formed, not empty) without value checks."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", file=path)
    cols, where = _read_parquet(path) if path.name.endswith(".parquet") else _read_csv(path)
    if len(cols["date"]) == 0:
        raise DataError("no data rows after the header", file=path, row=where(0), field=None)
    return cols, where


def read_columns(path: Path) -> tuple[Columns, Where]:
    """Strictly read one symbol file into checked numpy columns and a row -> line/row-label function."""
    cols, where = parse_columns(path)
    return check_columns(cols, Path(path), where), where


def read_symbol_file(path: Path) -> Any:  # -> pandas.DataFrame
    """Read one symbol file strictly (DataError with file, line, field) into a date-indexed float64 frame."""
    import pandas as pd

    cols, _ = read_columns(path)
    index = pd.DatetimeIndex(cols["date"], name="date")
    return pd.DataFrame({k: a for k, a in cols.items() if k != "date"}, index=index)


def _read_and_store(path: Path, cache: ArchiveCache | None) -> Columns:
    """Read and check one source file, storing the result in the cache when there is one."""
    cols, _ = read_columns(path)
    if cache is not None:
        cache.put(path, cols)
    return cols


def _where(path: Path, offset: int) -> Where:
    """Line (CSV) or row (Parquet) label of row i of a window starting at `offset`."""
    if path.name.endswith(".parquet"):
        return lambda i: str(i + offset + 1)
    return lambda i: i + offset + 2


def _day(value: str | None, name: str) -> np.datetime64 | None:
    """Parse a --start/--end date; a bad one is a ConfigError."""
    from adaptrade.data.calendar import parse_day

    return None if value is None else parse_day(value, name)


def _prepare(data_dir: Path, symbols: Sequence[str] | None, policy: RepairPolicy, cache_dir: Path | None,
             start: str | None, end: str | None, jump_threshold: float,
             on_file: Callable[[int, int], None] | None = None) -> tuple[list[str], list[Columns], QualityReport]:
    """Read, window, check and repair the requested symbols; the shared core of load and check.

    `on_file(done, total)` is called as files are read (from the cache or parsed), for a progress bar."""
    check_policy(policy)
    if not jump_threshold > 1.0:
        raise ConfigError(f"jump threshold must be > 1 (got {jump_threshold})")
    lo_day, hi_day = _day(start, "start"), _day(end, "end")
    files = available_symbols(data_dir)
    if not files:
        raise DataError(no_data_files(data_dir), file=data_dir)
    names = list(files) if symbols is None else list(dict.fromkeys(symbols))
    unknown = [s for s in names if s not in files]
    if unknown:
        hint = " (benchmarks are read with load_benchmark)" if BENCHMARK_SYMBOLS & set(unknown) else ""
        raise UnknownSymbolError(f"no data file for {', '.join(unknown)} in {data_dir}{hint}", file=data_dir)
    paths = [files[s] for s in names]
    cache = ArchiveCache(cache_dir) if cache_dir is not None else None
    series: list[Columns | None] = [None] * len(paths)
    if cache is not None:  # Parquet reads release the GIL: two threads cut a warm load of 500 files by about a third
        workers = min(2, os.cpu_count() or 1, len(paths))
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                series = list(pool.map(cache.get, paths))
        else:
            series = [cache.get(p) for p in paths]
    todo = [i for i, s in enumerate(series) if s is None]
    done = len(paths) - len(todo)
    if on_file is not None:
        on_file(done, len(paths))
    if todo:  # pyarrow parses without the GIL: two threads nearly halve a cold load
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1, len(todo))) as pool:
            for i, cols in zip(todo, pool.map(lambda i: _read_and_store(paths[i], cache), todo)):
                series[i] = cols
                done += 1
                if on_file is not None:
                    on_file(done, len(paths))
    windows: list[tuple[Columns, int]] = []
    for whole in series:
        assert whole is not None
        d = whole["date"]
        lo = 0 if lo_day is None else int(np.searchsorted(d, lo_day))
        hi = len(d) if hi_day is None else int(np.searchsorted(d, hi_day, side="right"))
        windows.append(({k: a[lo:hi] for k, a in whole.items()} if (lo, hi) != (0, len(d)) else whole, lo))
    spans = [(w["date"][0], w["date"][-1]) for w, _ in windows if len(w["date"])]
    sessions = (nyse_sessions(min(a for a, _ in spans), max(b for _, b in spans), cache_dir) if spans
                else np.array([], dtype="datetime64[D]"))
    out, rows = [], []
    for sym, path, (cols, lo) in zip(names, paths, windows):
        fixed, q = repair(sym, path, cols, policy=policy, jump_threshold=jump_threshold, sessions=sessions,
                          where=_where(path, lo))
        out.append(fixed)
        rows.append(q)
    return names, out, QualityReport(policy, jump_threshold, tuple(rows))


def load_archive(data_dir: Path, symbols: Sequence[str] | None = None, *, policy: RepairPolicy = "drop",
                 cache_dir: Path | None = None, start: str | None = None, end: str | None = None,
                 jump_threshold: float = 3.0, on_file: Callable[[int, int], None] | None = None) -> tuple[Bars, QualityReport]:
    """Load symbols (all when None) from a folder or the shared data root as aligned `Bars` plus their report
    (`on_file(done, total)`: progress of the files read)."""
    names, series, report = _prepare(Path(data_dir), symbols, policy, cache_dir, start, end, jump_threshold, on_file)
    return Bars.from_columns(names, series, f"archive:{data_dir}", consume=True), report  # type: ignore[arg-type]


def check_archive(data_dir: Path, symbols: Sequence[str] | None = None, *, policy: RepairPolicy = "drop",
                  cache_dir: Path | None = None, jump_threshold: float = 3.0) -> QualityReport:
    """Validate every file (or the given symbols) under the policy and return the report, without building Bars."""
    return _prepare(Path(data_dir), symbols, policy, cache_dir, None, None, jump_threshold)[2]
