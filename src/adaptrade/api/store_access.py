"""Every store access of the API, behind a few small functions, so switching the API to another
store (issue 13's interface over DuckDB and PostgreSQL) is an edit of this one file.

Today: the run store (`RunStore`) and score store (`ScoreStore`) of one DuckDB file, opened once
read-write by the service process (DuckDB allows one writing process per file) and used under a lock.
The SQL below is DuckDB's (json_extract_string): a PostgreSQL store is not served by the API yet.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage.runs import DATA_TABLES, EXTRA_TABLES, RunStore
from adaptrade.storage.schema import EXTRA, ROW
from adaptrade.storage.scores import ScoreStore

TABLES = {**DATA_TABLES, **EXTRA_TABLES}
_RUNS_SQL = """
SELECT id, created, status,
       json_extract_string(settings, '$.source') AS source,
       COALESCE(json_extract_string(settings, '$.mode'), 'per-stock') AS mode,
       json_extract_string(settings, '$.strategy') AS strategy,
       TRY_CAST(json_extract(settings, '$.stocks') AS BIGINT) AS stocks,
       json_extract_string(settings, '$.start') AS start,
       json_extract_string(settings, '$.end') AS "end",
       TRY_CAST(COALESCE(json_extract(summary, '$.mean_return'), json_extract(summary, '$.aggregate.mean_return')) AS DOUBLE) AS mean_return,
       TRY_CAST(COALESCE(json_extract(summary, '$.mean_sharpe'), json_extract(summary, '$.aggregate.mean_sharpe')) AS DOUBLE) AS mean_sharpe,
       TRY_CAST(COALESCE(json_extract(summary, '$.beat_benchmark_share'), json_extract(summary, '$.aggregate.beat_benchmark_share')) AS DOUBLE) AS beat_share
FROM runs
"""


@dataclass(frozen=True)
class RunFilters:
    """Filters of GET /runs; None means any. `date` is the UTC day the run was created (YYYY-MM-DD)."""

    source: str | None = None
    mode: str | None = None
    status: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Page:
    """Rows offset .. offset + limit."""

    offset: int = 0
    limit: int = 100


def clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN/inf and NaT -> None, numpy scalars -> Python, timestamps -> ISO text."""
    if value is None:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return clean(value.item())
    if value is pd.NaT:
        return None
    if isinstance(value, (int, str, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [str(c) for c in df.columns]
    return [{c: clean(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


class StoreAccess:
    """The run and score store of one DuckDB file, safe to call from many request threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._runs = RunStore(str(self.path))  # creates the schema when the file is new
        self._scores = ScoreStore(str(self.path))
        self._tables: set[str] = set()
        self._cols: dict[str, list[str]] = {}

    def close(self) -> None:
        """Release the file."""
        with self._lock:
            self._scores.close()
            self._runs.close()

    def _sql(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self._runs._b.df(sql, params or [])

    def _fetch(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """([], rows) without a pandas round trip (the hot path of table pages; callers know the columns)."""
        with self._lock:
            return [], self._runs._b.fetchall(sql, params or [])

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run `run_id` (one indexed lookup)."""
        return bool(self._fetch("SELECT 1 FROM runs WHERE id = ?", [run_id])[1])

    def ping(self) -> None:
        """Raise StoreError when the store cannot answer a query."""
        self._sql("SELECT 1")

    def list_runs(self, filters: RunFilters, page: Page) -> tuple[list[dict[str, Any]], int]:
        """Runs matching `filters`, newest first, one page of them, and how many match."""
        where, params = [], []
        for col, val in (("source", filters.source), ("mode", filters.mode), ("status", filters.status)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if filters.date is not None:
            where.append("substr(created, 1, 10) = ?")
            params.append(filters.date)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        base = f"SELECT * FROM ({_RUNS_SQL}) {cond}"
        total = int(self._sql(f"SELECT count(*) AS n FROM ({base})", params)["n"].iloc[0])
        rows = self._sql(f"{base} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?", [*params, page.limit, page.offset])
        return _records(rows), total

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run's headline row, settings, summary and row counts per table; None when unknown."""
        rows = self._sql(f"SELECT * FROM ({_RUNS_SQL}) WHERE id = ?", [run_id])
        if rows.empty:
            return None
        out = _records(rows)[0]
        import json

        extra = self._sql("SELECT settings, summary FROM runs WHERE id = ?", [run_id]).iloc[0]
        out["settings"] = json.loads(extra["settings"]) if extra["settings"] else {}
        out["summary"] = json.loads(extra["summary"]) if extra["summary"] else {}
        out["counts"] = {name: self._count(table, run_id) for name, table in TABLES.items()}
        return out

    def _has(self, table: str) -> bool:
        if table in self._tables:
            return True
        with self._lock:
            found = table in self._runs._b.tables()
        if found:
            self._tables.add(table)
        return found

    def _columns(self, table: str) -> list[str]:
        """Data columns of a run table (cached; a save may add columns, so saves clear the cache)."""
        cols = self._cols.get(table)
        if cols is None:
            with self._lock:
                have = self._runs._b.columns(table)
            cols = [c for c in have if c not in ("run_id", ROW, EXTRA)]
            self._cols[table] = cols
        return cols

    def _count(self, table: str, run_id: str) -> int:
        if not self._has(table):
            return 0
        return int(self._sql(f"SELECT count(*) AS n FROM {table} WHERE run_id = ?", [run_id])["n"].iloc[0])

    def run_table(self, run_id: str, table: str, symbol: str | None, page: Page) -> tuple[list[str], list[dict[str, Any]], int]:
        """(columns, one page of rows in saved order, total rows) of one run's table, optionally one symbol."""
        name = TABLES[table]
        if not self._has(name):
            return [], [], 0
        cols = self._columns(name)
        where, params = "run_id = ?", [run_id]
        if symbol is not None and "symbol" in cols:
            where += " AND symbol = ?"
            params.append(symbol)
        total = int(self._fetch(f"SELECT count(*) FROM {name} WHERE {where}", params)[1][0][0])
        if total == 0:
            return cols, [], 0
        sel = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        _, rows = self._fetch(f"SELECT {sel} FROM {name} WHERE {where} ORDER BY {ROW} LIMIT ? OFFSET ?", [*params, page.limit, page.offset])
        # columns this run never had (added by a later run) are all NULL: leave them out
        keep = [i for i in range(len(cols)) if any(r[i] is not None for r in rows)]
        present = [cols[i] for i in keep]
        return present, [{cols[i]: clean(r[i]) for i in keep} for r in rows], total

    def trade_returns(self, run_id: str) -> pd.DataFrame:
        """symbol, exit_date, return of the run's closed trades in exit order (for the realised equity curve)."""
        if not self._has("run_trades"):
            return pd.DataFrame(columns=["symbol", "exit_date", "return"])
        return self._sql('SELECT symbol, CAST(exit_date AS VARCHAR) AS exit_date, "return" FROM run_trades '
                         "WHERE run_id = ? AND exit_date IS NOT NULL ORDER BY exit_date, _row", [run_id])

    def latest_scores(self, source: str | None) -> list[dict[str, Any]]:
        """Each symbol's latest quality score, best first; `source`: only scores from runs on that data source."""
        with self._lock:
            df = self._scores.latest(source)
        return _records(df)

    def score_history(self, symbol: str) -> list[dict[str, Any]]:
        """Every stored score of one symbol, oldest first."""
        with self._lock:
            df = self._scores.history(symbol)
        return _records(df)

    def save_run(self, result: Any, summary: dict[str, Any]) -> str:
        """Store a finished job's result; returns the run id."""
        with self._lock:
            run_id = self._runs.save(result, summary)
            self._cols.clear()  # the save may have added tables or columns
            self._tables.clear()
            return run_id


__all__ = ["TABLES", "Page", "RunFilters", "StoreAccess", "StoreError", "clean"]
