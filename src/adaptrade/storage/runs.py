"""The run store: every backtest run in one DuckDB file (runs, per-stock metrics, trades, params;
and, for portfolio runs, orders, fills and risk events).

Tables are written from Arrow in one transaction per run, so a failed save leaves nothing behind.
The data tables take their columns from the result frames (new columns are added on the fly);
the pandas dtypes of each frame are kept with the run so `load_run` gives back equal frames.
"""

from __future__ import annotations

import json
import math
import secrets
from datetime import date, datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage.duck import first_line, transaction

if TYPE_CHECKING:  # the engine (numba) is not needed to read runs back
    from adaptrade.backtest.results import BacktestResult

SCHEMA_VERSION = 2
DATA_TABLES = {"stocks": "run_stocks", "trades": "run_trades", "params": "run_params"}
EXTRA_TABLES = {"orders": "run_orders", "fills": "run_fills", "risk_events": "run_risk_events"}  # optional, per run
ROW = "_row"  # position of a row in its frame, so loads come back in saved order
LIST_COLUMNS = ["id", "created", "mode", "source", "strategy", "stocks", "dates", "mean_return", "account_return", "beat_share",
                "mean_sharpe", "status"]
_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs (id VARCHAR PRIMARY KEY, created VARCHAR NOT NULL, settings JSON, "
    "summary JSON, status VARCHAR NOT NULL, dtypes JSON)",
)
# schema version -> statements that bring a store from the version before to it (tables only added;
# their data columns come from the first frame saved, as for the other data tables)
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: tuple(f"CREATE TABLE IF NOT EXISTS {t} (run_id VARCHAR, {ROW} BIGINT)" for t in EXTRA_TABLES.values()),
}
_METRIC = "TRY_CAST(COALESCE(json_extract(summary, '$.{k}'), json_extract(summary, '$.aggregate.{k}')) AS DOUBLE) AS {a}"
_LIST_SQL = f"""
SELECT id, created,
       COALESCE(json_extract_string(settings, '$.mode'), 'per-stock') AS mode,
       json_extract_string(settings, '$.source') AS source,
       json_extract_string(settings, '$.strategy') AS strategy,
       TRY_CAST(json_extract(settings, '$.stocks') AS BIGINT) AS stocks,
       json_extract_string(settings, '$.start') || ' .. ' || json_extract_string(settings, '$.end') AS dates,
       {_METRIC.format(k="mean_return", a="mean_return")},
       CASE WHEN json_extract_string(settings, '$.mode') = 'portfolio'
            THEN TRY_CAST(json_extract(summary, '$.aggregate.total_return') AS DOUBLE) END AS account_return,
       {_METRIC.format(k="beat_benchmark_share", a="beat_share")},
       {_METRIC.format(k="mean_sharpe", a="mean_sharpe")},
       status
FROM runs ORDER BY created, id
"""


class RunStore:
    """A DuckDB file of backtest runs; use as a context manager so the file is closed."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        import duckdb

        self.path = Path(path)
        self.read_only = read_only
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the run store: {first_line(exc)}", file=self.path) from None
        try:
            self._check_schema()
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the DuckDB connection (releases the file lock)."""
        self._con.close()

    def save(self, result: BacktestResult, summary: dict[str, Any], extra: dict[str, pd.DataFrame] | None = None) -> str:
        """Store `result` and its `summary` (e.g. aggregate(stocks)) atomically; returns the new run id.

        `extra` (portfolio mode): optional frames named "orders", "fills", "risk_events", stored in
        run_orders / run_fills / run_risk_events in the same transaction.
        """
        unknown = sorted(set(extra or {}) - set(EXTRA_TABLES))
        if unknown:
            raise ValueError(f"unknown extra run tables {unknown}; known: {sorted(EXTRA_TABLES)}")
        now = datetime.now(timezone.utc)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        frames = {name: getattr(result, name) for name in DATA_TABLES}
        tables = dict(DATA_TABLES)
        for name, df in (extra or {}).items():
            if df is not None:
                frames[name], tables[name] = df, EXTRA_TABLES[name]
        dtypes = {name: _dtypes(df) for name, df in frames.items()}
        con = self._con
        with transaction(con, "cannot save the run", self.path):
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, now.isoformat(timespec="microseconds"), _dumps(_run_settings(result)), _dumps(summary), _status(summary), _dumps(dtypes)],
            )
            for name, df in frames.items():
                _insert_frame(con, tables[name], df, run_id)
        return run_id

    def list_runs(self) -> pd.DataFrame:
        """One row per run, oldest first: id, created, source, strategy, stocks, dates, headline metrics, status."""
        if not self._has_table("runs"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in LIST_COLUMNS})
        return self._query(_LIST_SQL).df()[LIST_COLUMNS]

    def load_run(self, run_id: str) -> dict[str, Any]:
        """id, created, status, settings, summary and the stocks / trades / params frames of one run,
        plus orders / fills / risk_events when the run stored them (portfolio mode)."""
        row = self._query("SELECT id, created, status, settings, summary, dtypes FROM runs WHERE id = ?", [run_id]).fetchone() if self._has_table("runs") else None
        if row is None:
            raise StoreError(f"unknown run id '{run_id}'", file=self.path)
        rid, created, status, settings, summary, dtypes = row
        out: dict[str, Any] = {"id": rid, "created": created, "status": status, "settings": json.loads(settings), "summary": json.loads(summary)}
        saved = json.loads(dtypes)
        for name, table in {**DATA_TABLES, **EXTRA_TABLES}.items():
            if name not in saved or (name in EXTRA_TABLES and not self._has_table(table)):
                continue
            cols = saved[name]
            sel = ", ".join(_q(c["name"]) for c in cols) or "*"
            df = self._query(f"SELECT {sel} FROM {table} WHERE run_id = ? ORDER BY {ROW}", [run_id]).df() if cols else pd.DataFrame()
            out[name] = _restore(df, cols)
        return out

    # --- issue 11: `runs show PREFIX`, `runs delete ID` (kept apart for the storage rework of issue 13)

    def resolve_id(self, prefix: str) -> str:
        """The one run id starting with `prefix`; StoreError when none or several match (they are listed)."""
        prefix = prefix.strip()
        if not prefix or not self._has_table("runs"):
            raise StoreError(f"unknown run id '{prefix}'", file=self.path)
        ids = [r[0] for r in self._query("SELECT id FROM runs WHERE starts_with(id, ?) ORDER BY id", [prefix]).fetchall()]
        if not ids:
            raise StoreError(f"unknown run id '{prefix}' (see `adaptrade runs list`)", file=self.path)
        if len(ids) > 1 and prefix not in ids:
            shown = ", ".join(ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
            raise StoreError(f"run id prefix '{prefix}' is ambiguous: {shown}", file=self.path)
        return prefix if prefix in ids else ids[0]

    def delete_run(self, run_id: str) -> None:
        """Remove one run and its rows in every data table, in one transaction."""
        tables = [t for t in {**DATA_TABLES, **EXTRA_TABLES}.values() if self._has_table(t)]
        with transaction(self._con, "cannot delete the run", self.path):
            for t in tables:
                self._con.execute(f"DELETE FROM {t} WHERE run_id = ?", [run_id])
            self._con.execute("DELETE FROM runs WHERE id = ?", [run_id])

    def _query(self, sql: str, params: list[Any] | None = None) -> Any:
        """Run a query, turning DuckDB errors into StoreError naming the file."""
        import duckdb

        try:
            return self._con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise StoreError(f"cannot read the run store: {first_line(exc)}", file=self.path) from None

    def _has_table(self, name: str) -> bool:
        """Whether the main schema has table `name`."""
        return self._query("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0] > 0

    def _check_schema(self) -> None:
        """Create the tables if missing and migrate an older store (read-write); refuse a store
        written by a newer schema. A read-only store of an older version is read as it is."""
        if not self.read_only:
            for ddl in _DDL:
                self._query(ddl)
            if self._query("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                self._query("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
                self._migrate(1)
        if self._has_table("schema_version"):
            version = self._query("SELECT max(version) FROM schema_version").fetchone()[0]
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(f"run store schema version {version} is newer than this adaptrade ({SCHEMA_VERSION})", file=self.path)
            if not self.read_only and version is not None and version < SCHEMA_VERSION:
                self._migrate(int(version))

    def _migrate(self, version: int) -> None:
        """Apply the migrations after `version` in one transaction and record SCHEMA_VERSION."""
        con = self._con
        with transaction(con, f"cannot migrate the run store to schema version {SCHEMA_VERSION}", self.path):
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for ddl in _MIGRATIONS.get(v, ()):
                    con.execute(ddl)
            con.execute("UPDATE schema_version SET version = ?", [SCHEMA_VERSION])


def _insert_frame(con: Any, table: str, df: pd.DataFrame, run_id: str) -> None:
    """Append `df` to `table` tagged with run_id (Arrow registration, no per-row work); adds new columns."""
    arrow = _to_arrow(df)
    view = f"_incoming_{table}"
    con.register(view, arrow)
    try:
        incoming = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0] > 0
        if not exists:
            con.execute(f"CREATE TABLE {table} AS SELECT CAST(NULL AS VARCHAR) AS run_id, CAST(0 AS BIGINT) AS {ROW}, * FROM {view} LIMIT 0")
        else:
            have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            for col, typ, *_ in incoming:
                if col not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {_q(col)} {typ}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT CAST($1 AS VARCHAR) AS run_id, * FROM {view}", [run_id])
    finally:
        con.unregister(view)


def _to_arrow(df: pd.DataFrame) -> Any:
    """The frame as an Arrow table with plain strings (no dictionaries), µs timestamps and a row number."""
    import pyarrow as pa

    tbl = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False).replace_schema_metadata(None)
    cols, names = [], []
    for name, col in zip(tbl.column_names, tbl.columns):
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        elif pa.types.is_null(col.type):  # an empty object column: store as text
            col = col.cast(pa.string())
        elif pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz=col.type.tz))
        cols.append(col)
        names.append(name)
    cols.append(pa.array(np.arange(len(df), dtype=np.int64)))
    names.append(ROW)
    return pa.Table.from_arrays(cols, names=names)


def _dtypes(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Column names and pandas dtypes (plus categories) so a load rebuilds the same frame."""
    out = []
    for name, dt in df.dtypes.items():
        entry: dict[str, Any] = {"name": str(name), "dtype": str(dt)}
        if isinstance(dt, pd.CategoricalDtype):
            entry["categories"] = [str(c) for c in dt.categories]
        out.append(entry)
    return out


def _restore(df: pd.DataFrame, cols: list[dict[str, Any]]) -> pd.DataFrame:
    """Cast loaded columns back to their saved pandas dtypes."""
    out = {}
    for c in cols:
        s = df[c["name"]] if c["name"] in df else pd.Series([], dtype=object)
        if c["dtype"] == "category":
            out[c["name"]] = pd.Categorical(s.astype(object), categories=c.get("categories"))
        else:
            try:
                out[c["name"]] = s.astype(c["dtype"])
            except (TypeError, ValueError):  # e.g. ints with NULLs: keep DuckDB's type
                out[c["name"]] = s
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _status(summary: dict[str, Any]) -> str:
    """'complete', or 'partial' when the summary says some symbols failed."""
    return "partial" if summary.get("complete") is False or summary.get("failed_symbols") else "complete"


def _run_settings(result: BacktestResult) -> dict[str, Any]:
    """The settings stored with a run: strategy config, benchmark, date span, then the caller's settings."""
    bars = result.output.bars
    base: dict[str, Any] = dict(result.output.config.describe())
    base.update(
        source=bars.source or None,
        benchmark=result.benchmark_symbol,
        stocks=bars.n_symbols,
        start=str(bars.dates[0]) if bars.n_bars else None,
        end=str(bars.dates[-1]) if bars.n_bars else None,
    )
    base.update(result.settings)
    return base


def _jsonable(obj: Any) -> Any:
    """Plain JSON values: NaN/inf -> null, numpy scalars -> Python, dates -> ISO, the rest -> str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, np.ndarray)):
        return [_jsonable(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (datetime, date, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return None if np.isnat(obj) else str(obj)
    return str(obj)


def _dumps(obj: Any) -> str:
    """Strict JSON text of `obj` (see _jsonable)."""
    return json.dumps(_jsonable(obj), allow_nan=False)


def _q(name: str) -> str:
    """A quoted SQL identifier (columns such as `return` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


