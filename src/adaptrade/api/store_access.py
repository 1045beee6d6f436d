"""Every store access of the API, behind a few small functions: the run store (`RunStore`) and score
store (`ScoreStore`) of one store target, a DuckDB file or a postgresql:// database (storage.backend),
opened once read-write by the service process (DuckDB allows one writing process per file); writes and
schema look-ups go through that connection under a lock, reads through a small pool of read connections
(DuckDB cursors of the same database, or PostgreSQL connections) so request threads do not queue behind
one connection. The SQL is portable; JSON fields of `runs` are read with the backend's own extraction
(Backend.json_text / json_number).
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage.backend import Backend, PgBackend, display
from adaptrade.storage.runs import DATA_TABLES, EXTRA_TABLES, RunStore
from adaptrade.storage.schema import ALERTS, EXTRA, ROW
from adaptrade.storage.scores import ScoreStore

TABLES = {**DATA_TABLES, **EXTRA_TABLES}
ALERT_COLUMNS = list(ALERTS)
COUNTS_KEPT = 1000  # finished runs whose table row counts are kept (GET /runs/{id} counts 600k-row tables otherwise)
RUN_COLUMNS = ["id", "created", "status", "source", "mode", "strategy", "stocks", "start", "end", "mean_return", "mean_sharpe",
               "beat_share"]


def runs_sql(b: Backend) -> str:
    """The headline row of every run (RUN_COLUMNS), in the dialect of `b`."""
    t, n = b.json_text, b.json_number

    def agg(key: str) -> str:
        return f"COALESCE({n('summary', key)}, {n('summary', 'aggregate', key)})"

    return (f"SELECT id, created, status, {t('settings', 'source')} AS source, COALESCE({t('settings', 'mode')}, 'per-stock') AS mode, "
            f"{t('settings', 'strategy')} AS strategy, CAST({n('settings', 'stocks')} AS BIGINT) AS stocks, "
            f"{t('settings', 'start')} AS start, {t('settings', 'end')} AS \"end\", {agg('mean_return')} AS mean_return, "
            f"{agg('mean_sharpe')} AS mean_sharpe, {agg('beat_benchmark_share')} AS beat_share FROM runs")


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


def _finite(value: Any) -> Any:
    return value if value is None or math.isfinite(value) else None


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _same(value: Any) -> Any:
    return value


def cleaner(sql_type: str) -> Callable[[Any], Any]:
    """The clean() of one column's values given its SQL type (lower case): the drivers return Python floats
    for doubles, date/datetime for dates and timestamps, int/bool/str for the rest; anything else -> clean."""
    t = sql_type.lower()
    if t in ("double", "double precision", "float", "real", "float8", "float4"):
        return _finite
    if t == "date" or t.startswith("timestamp"):
        return _iso
    if t in ("bigint", "integer", "int", "smallint", "int8", "int4", "boolean", "varchar", "text") or t.startswith("character varying"):
        return _same
    return clean


class ReadPool:
    """Up to `size` read connections besides the writer, each used by one thread at a time: DuckDB cursors
    of the writer's database (same file, own connection state), or fresh PostgreSQL connections. A
    connection whose query raised is closed and replaced (it may be broken)."""

    def __init__(self, writer: Backend, size: int) -> None:
        self._writer = writer
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max(1, size))

    def _open(self) -> Any:
        if isinstance(self._writer, PgBackend):
            return PgBackend(self._writer.target)
        return self._writer.con.cursor()  # type: ignore[attr-defined]

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A read connection with fetchall(sql, params) for the duration of the block."""
        with self._slots:
            try:
                con = self._idle.get_nowait()
            except queue.Empty:
                con = self._open()
            try:
                yield con
            except BaseException:
                _close(con)
                raise
            self._idle.put(con)

    def fetchall(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Rows of one query; PostgreSQL results come in binary format (no text parsing of every number)."""
        with self.connection() as con:
            if isinstance(con, PgBackend):
                with con.con.cursor(binary=True) as cur:
                    cur.execute(con._sql(sql) if params else sql, params or None)
                    return cur.fetchall()
            return con.execute(sql, params).fetchall()

    def close(self) -> None:
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return


def _close(con: Any) -> None:
    try:
        con.close()
    except Exception:  # noqa: BLE001, S110  closing a broken connection may fail; it is dropped either way
        pass


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [str(c) for c in df.columns]
    return [{c: clean(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


class StoreAccess:
    """The run and score store of one target (DuckDB path or postgresql:// URL), safe to call from many
    request threads. Database errors become one-line StoreErrors naming the store (no password)."""

    def __init__(self, target: str, lock_timeout: float = 30.0, read_connections: int = 4) -> None:
        self.target = str(target)
        self.path = display(self.target)
        self._lock = threading.Lock()
        self._runs = RunStore(self.target, lock_timeout=lock_timeout)  # creates/migrates the schema
        self._scores = ScoreStore(self.target, lock_timeout=lock_timeout)
        self._b = self._runs.backend
        self.kind = self._b.kind
        self._runs_sql = runs_sql(self._b)
        self._tables: set[str] = set()
        self._cols: dict[str, tuple[list[str], list[Callable[[Any], Any]]]] = {}
        self._reads = ReadPool(self._b, read_connections)
        self._counts: dict[tuple[str, str], dict[str, int]] = {}  # (run id, finished) -> rows per table
        self._counts_lock = threading.Lock()

    def close(self) -> None:
        """Release the store (the DuckDB file lock, the PostgreSQL connections)."""
        with self._lock:
            self._reads.close()
            self._scores.close()
            self._runs.close()

    def _fetch(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query on a pooled read connection; a database error becomes a StoreError."""
        try:
            return self._reads.fetchall(sql, params or [])
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001  driver errors of either backend
            raise StoreError(f"cannot read the run store: {exc}".splitlines()[0], file=self.path) from None

    def run_exists(self, run_id: str) -> bool:
        """Whether the store holds run `run_id` (one indexed lookup)."""
        return bool(self._fetch("SELECT 1 FROM runs WHERE id = ?", [run_id]))

    def finished_at(self, run_id: str) -> str | None:
        """When run `run_id` was last saved complete (its cache version); None when unknown or still being written."""
        rows = self._fetch("SELECT finished FROM runs WHERE id = ?", [run_id])
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def ping(self) -> None:
        """Raise StoreError when the store cannot answer a query."""
        self._fetch("SELECT 1")

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
        base = f"SELECT * FROM ({self._runs_sql}) AS r {cond}"
        total = int(self._fetch(f"SELECT count(*) FROM ({base}) AS c", params)[0][0])
        cols = ", ".join(f'"{c}"' for c in RUN_COLUMNS)
        rows = self._fetch(f"SELECT {cols} FROM ({base}) AS p ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                           [*params, page.limit, page.offset])
        return [{c: clean(v) for c, v in zip(RUN_COLUMNS, r)} for r in rows], total

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run's headline row, settings, summary and row counts per table; None when unknown."""
        cols = ", ".join(f'r."{c}"' for c in RUN_COLUMNS)
        rows = self._fetch(f"SELECT {cols}, x.finished, x.settings, x.summary FROM ({self._runs_sql}) AS r JOIN runs x ON x.id = r.id "
                           "WHERE r.id = ?", [run_id])
        if not rows:
            return None
        row = rows[0]
        out = {c: clean(v) for c, v in zip(RUN_COLUMNS, row)}
        out["settings"] = json.loads(row[-2]) if row[-2] else {}
        out["summary"] = json.loads(row[-1]) if row[-1] else {}
        finished = row[-3]
        key = (run_id, str(finished))
        counts = self._counts.get(key) if finished is not None else None
        if counts is None:  # a finished run's tables never change (a re-save gets a new finished time): count them once
            counts = {name: self._count(table, run_id) for name, table in TABLES.items()}
            if finished is not None:
                with self._counts_lock:
                    while len(self._counts) >= COUNTS_KEPT:
                        self._counts.pop(next(iter(self._counts)))
                    self._counts[key] = counts
        out["counts"] = dict(counts)
        return out

    def _has(self, table: str) -> bool:
        if table in self._tables:
            return True
        with self._lock:
            found = table in self._b.tables()
        if found:
            self._tables.add(table)
        return found

    def _columns(self, table: str) -> tuple[list[str], list[Callable[[Any], Any]]]:
        """Data columns of a run table and the clean() of each by its SQL type (cached; a save may add
        columns, so saves clear the cache)."""
        got = self._cols.get(table)
        if got is None:
            with self._lock:
                have = self._b.columns(table)
            cols = [c for c in have if c not in ("run_id", ROW, EXTRA)]
            got = (cols, [cleaner(have[c]) for c in cols])
            self._cols[table] = got
        return got

    def has_symbol(self, run_id: str, symbol: str) -> bool:
        """Whether run `run_id` holds stock `symbol` (one indexed lookup)."""
        return self._has("run_stocks") and bool(self._fetch("SELECT 1 FROM run_stocks WHERE run_id = ? AND symbol = ? LIMIT 1",
                                                            [run_id, symbol]))

    def _count(self, table: str, run_id: str) -> int:
        if not self._has(table):
            return 0
        return int(self._fetch(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id])[0][0])

    def run_table(self, run_id: str, table: str, symbol: str | None, page: Page) -> tuple[list[str], list[dict[str, Any]], int]:
        """(columns, one page of rows in saved order, total rows) of one run's table, optionally one symbol."""
        name = TABLES[table]
        if not self._has(name):
            return [], [], 0
        cols, fns = self._columns(name)
        where, params = "run_id = ?", [run_id]
        if symbol is not None and "symbol" in cols:
            where += " AND symbol = ?"
            params.append(symbol)
        sel = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        # the page and its total in one query (the uncorrelated count is computed once); an empty page past the end counts alone
        got = self._fetch(f"SELECT {sel}, (SELECT count(*) FROM {name} WHERE {where}) FROM {name} WHERE {where} "
                          f"ORDER BY {ROW} LIMIT ? OFFSET ?", [*params, *params, page.limit, page.offset])
        if got:
            total, rows = int(got[0][-1]), got
        else:
            total = int(self._fetch(f"SELECT count(*) FROM {name} WHERE {where}", params)[0][0]) if page.offset else 0
            if total == 0:
                return cols, [], 0
            rows = []
        # columns this run never had (added by a later run) are all NULL: leave them out
        keep = [i for i in range(len(cols)) if any(r[i] is not None for r in rows)]
        present = [cols[i] for i in keep]
        pairs = [(i, cols[i], fns[i]) for i in keep]
        return present, [{c: f(r[i]) for i, c, f in pairs} for r in rows], total

    def trade_returns(self, run_id: str) -> pd.DataFrame:
        """symbol, exit_date, return of the run's closed trades in exit order (for the realised equity curve)."""
        cols = ["symbol", "exit_date", "return"]
        if not self._has("run_trades"):
            return pd.DataFrame(columns=cols)
        rows = self._fetch('SELECT symbol, CAST(exit_date AS VARCHAR) AS exit_date, "return" FROM run_trades '
                           f"WHERE run_id = ? AND exit_date IS NOT NULL ORDER BY exit_date, {ROW}", [run_id])
        return pd.DataFrame(rows, columns=cols)

    def run_labels(self, run_id: str) -> tuple[str, str | None]:
        """(mode, benchmark symbol) of one run from its settings (mode per-stock when not stored)."""
        t = self._b.json_text
        rows = self._fetch(f"SELECT {t('settings', 'mode')}, {t('settings', 'benchmark')} FROM runs WHERE id = ?", [run_id])
        return (rows[0][0] or "per-stock", rows[0][1]) if rows else ("per-stock", None)

    def run_curves(self, run_id: str) -> list[tuple[Any, ...]]:
        """The run's stored bar-by-bar curves (date, strategy, buy_hold, benchmark, drawdown, benchmark_close), oldest
        first; empty for a run stored before schema version 8."""
        if not self._has("run_curves"):
            return []
        return self._fetch(f"SELECT date, strategy, buy_hold, benchmark, drawdown, benchmark_close FROM run_curves WHERE run_id = ? "
                           f"ORDER BY {ROW}", [run_id])

    def symbol_equity(self, run_id: str, symbol: str) -> list[tuple[Any, ...]]:
        """(date, equity) of one stock of the run at each of its bars, oldest first (empty: no equity stored)."""
        if not self._has("run_equity"):
            return []
        return self._fetch(f"SELECT date, equity FROM run_equity WHERE run_id = ? AND symbol = ? ORDER BY date, {ROW}", [run_id, symbol])

    def load_run(self, run_id: str) -> dict[str, Any]:
        """Every stored frame of one run (RunStore.load_run, through the service's own connection)."""
        with self._lock:
            return self._runs.load_run(run_id)

    def latest_scores(self, source: str | None) -> list[dict[str, Any]]:
        """Each symbol's latest quality score, best first; `source`: only scores from runs on that data source."""
        with self._lock:
            df = self._scores.latest(source)
        return _records(df)

    def scores_version(self) -> list[Any]:
        """[rows, latest scored_at] of the score table: it changes whenever scores are saved (a save stamps
        its rows with the time it ran) or removed, so a cached copy of the latest scores can be checked with it."""
        if not self._has("quality_scores"):
            return [0, None]
        count, last = self._fetch("SELECT count(*), max(scored_at) FROM quality_scores")[0]
        return [int(count), clean(last)]

    def score_history(self, symbol: str) -> list[dict[str, Any]]:
        """Every stored score of one symbol, oldest first."""
        with self._lock:
            df = self._scores.history(symbol)
        return _records(df)

    def save_run(self, result: Any, summary: dict[str, Any], extra: dict[str, pd.DataFrame] | None = None) -> str:
        """Store a finished job's result (and, for portfolio jobs, its extra tables); returns the run id."""
        with self._lock:
            run_id = self._runs.save(result, summary, extra=extra)
            self._cols.clear()  # the save may have added tables or columns
            self._tables.clear()
            return run_id

    def record_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        """Insert or update one alert (key `id`) to its latest state, keeping when it first started; returns the stored row."""
        row = {c: alert.get(c).replace("\x00", "") if isinstance(alert.get(c), str) else alert.get(c) for c in ALERT_COLUMNS}
        row["labels"] = json.dumps(alert.get("labels") or {}, sort_keys=True)
        with self._lock:
            b = self._b
            with b.transaction("cannot record the alert"):
                old = b.fetchall("SELECT started FROM alerts WHERE id = ?", [row["id"]])
                if old:
                    row["started"] = old[0][0] or row["started"]
                    rest = [c for c in ALERT_COLUMNS if c != "id"]
                    b.execute(f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in rest)} WHERE id = ?", [*(row[c] for c in rest), row["id"]])
                else:
                    b.execute(f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(ALERT_COLUMNS))})",
                              [row[c] for c in ALERT_COLUMNS])
        return {**row, "labels": json.loads(row["labels"])}

    def list_alerts(self, state: str | None, source: str | None, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The most recently updated alerts (of one state / source), and how many are firing in all."""
        where, params = [], []
        for col, val in (("state", state), ("source", source)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._fetch(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts {cond} ORDER BY updated DESC, id LIMIT ?", [*params, limit])
        firing = int(self._fetch("SELECT count(*) FROM alerts WHERE state = 'firing'")[0][0])
        out = []
        for r in rows:
            d = dict(zip(ALERT_COLUMNS, r))
            d["labels"] = json.loads(d["labels"]) if d["labels"] else {}
            out.append(d)
        return out, firing


__all__ = ["TABLES", "Page", "RunFilters", "StoreAccess", "StoreError", "clean"]
