"""One connection interface over the two store backends: a DuckDB file (the embedded default) and
PostgreSQL (psycopg 3). SQL is written once with `?` placeholders; bulk writes go through Arrow
(DuckDB) or binary COPY (PostgreSQL), never row by row."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adaptrade.errors import StoreError

URL_PREFIXES = ("postgresql://", "postgres://")
# logical column type -> (DuckDB, PostgreSQL)
TYPES = {"text": ("VARCHAR", "text"), "double": ("DOUBLE", "double precision"), "bigint": ("BIGINT", "bigint"),
         "int": ("INTEGER", "integer"), "bool": ("BOOLEAN", "boolean"), "timestamp": ("TIMESTAMP", "timestamp")}


def is_url(target: str | Path | None) -> bool:
    """Whether `target` names a PostgreSQL database rather than a DuckDB file."""
    return target is not None and str(target).startswith(URL_PREFIXES)


def db_overrides(db: str | Path | None) -> dict[str, Any]:
    """Settings overrides for a `--db` value: a URL sets db_url, a path db_path (None: neither)."""
    if db is None:
        return {}
    return {"db_url": str(db)} if is_url(db) else {"db_path": Path(db), "db_url": None}


def store_target(settings: Any, db: str | Path | None = None) -> str:
    """The store to use: `--db` if given, else ADAPTRADE_DB_URL, else the DuckDB file db_path."""
    if db is not None:
        return str(db)
    return str(settings.db_url or settings.db_path)


def display(target: str) -> str:
    """The target without any password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", target)


def first_line(exc: BaseException) -> str:
    """The first line of a database error message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def exists(target: str) -> bool:
    """Whether the store can hold anything yet: the DuckDB file exists (a URL always counts)."""
    return is_url(target) or Path(target).exists()


def connect(target: str, read_only: bool = False, lock_timeout: float = 30.0) -> Backend:
    """Open `target` (a DuckDB path or a postgresql:// URL)."""
    return PgBackend(target) if is_url(target) else DuckBackend(target, read_only, lock_timeout)


class Backend:
    """What the stores need from a database; subclasses fill in the dialect."""

    kind = ""
    target = ""

    def sql_type(self, logical: str) -> str:
        """The backend's name of a logical column type."""
        return TYPES[logical][0 if self.kind == "duckdb" else 1]

    def error(self, what: str, exc: BaseException) -> StoreError:
        """A one-line StoreError naming the store."""
        return StoreError(f"{what}: {first_line(exc)}", file=display(self.target))

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> None:
        raise NotImplementedError

    def fetchall(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def arrow(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        """The result of a query as an Arrow table."""
        raise NotImplementedError

    def write_arrow(self, table: str, data: Any) -> None:
        """Append an Arrow table (columns named as in `table`) in one bulk operation."""
        raise NotImplementedError

    @contextmanager
    def transaction(self, what: str) -> Iterator[None]:
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    def tables(self) -> set[str]:
        """Names of the tables of the store's schema."""
        schema = "main" if self.kind == "duckdb" else "public"
        return {r[0] for r in self.fetchall("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema])}

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> lower-case type name of `table`, in table order."""
        schema = "main" if self.kind == "duckdb" else "public"
        rows = self.fetchall("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                             "ORDER BY ordinal_position", [schema, table])
        return {r[0]: str(r[1]).lower() for r in rows}

    def json_text(self, column: str, *keys: str) -> str:
        """SQL: the value at `keys` of the JSON text in `column`, as text (NULL when absent)."""
        if self.kind == "duckdb":
            return f"json_extract_string({column}, '$.{'.'.join(keys)}')"
        return f"(NULLIF({column}, '')::jsonb #>> '{{{','.join(keys)}}}')"

    def json_number(self, column: str, *keys: str) -> str:
        """SQL: the number at `keys` of the JSON text in `column`, as a double (NULL when absent or not a number)."""
        if self.kind == "duckdb":
            return f"TRY_CAST(json_extract({column}, '$.{'.'.join(keys)}') AS DOUBLE)"
        node = f"(NULLIF({column}, '')::jsonb #> '{{{','.join(keys)}}}')"
        return f"(CASE WHEN jsonb_typeof({node}) = 'number' THEN ({node} #>> '{{}}')::double precision END)"

    def df(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        """The result of a query as a pandas frame (through Arrow)."""
        return self.arrow(sql, params).to_pandas()


class DuckBackend(Backend):
    """A DuckDB file. The single-writer lock is waited for up to `lock_timeout` seconds, then
    reported in one line naming the process that holds it."""

    kind = "duckdb"

    def __init__(self, path: str, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        import duckdb

        self.target = str(path)
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                self.con = duckdb.connect(self.target, read_only=read_only)
                break
            except duckdb.Error as exc:
                msg = first_line(exc)
                if "lock" not in msg.lower():
                    raise self.error("cannot open the store", exc) from None
                if time.monotonic() >= deadline:
                    holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                    who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
                    raise StoreError(f"the store is locked by {who}; waited {lock_timeout:g} s (try again when it finishes)",
                                     file=self.target) from None
                time.sleep(0.1)

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> None:
        self.con.execute(sql, list(params))

    def fetchall(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def arrow(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def write_arrow(self, table: str, data: Any) -> None:
        view = f"_in_{table}_{os.getpid()}"
        self.con.register(view, data)
        try:
            self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"')
        finally:
            self.con.unregister(view)

    @contextmanager
    def transaction(self, what: str) -> Iterator[None]:
        import duckdb

        try:
            self.con.begin()
            try:
                yield
                self.con.commit()
            except BaseException:
                try:
                    self.con.rollback()
                except duckdb.Error:  # already rolled back by DuckDB: the first error is the one to report
                    pass
                raise
        except duckdb.Error as exc:
            raise self.error(what, exc) from None

    def close(self) -> None:
        self.con.close()


class PgBackend(Backend):
    """A PostgreSQL database (autocommit outside explicit transactions)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.target = url
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise self.error("cannot open the store", exc) from None
        self._depth = 0

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> None:
        self.con.execute(self._sql(sql) if params else sql, list(params) or None)

    def fetchall(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(self._sql(sql) if params else sql, list(params) or None).fetchall()

    def arrow(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        """Rows read by binary COPY of the query into Arrow columns (no per-row Python objects for numbers)."""
        from adaptrade.storage.pgcopy import read_query

        return read_query(self, sql, params)

    def write_arrow(self, table: str, data: Any) -> None:
        from adaptrade.storage.pgcopy import copy_in

        copy_in(self, table, data)

    @contextmanager
    def transaction(self, what: str) -> Iterator[None]:
        import psycopg

        try:
            with self.con.transaction():
                yield
        except psycopg.Error as exc:
            raise self.error(what, exc) from None

    def close(self) -> None:
        self.con.close()
