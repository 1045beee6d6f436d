"""The run store: every backtest run (runs, per-stock metrics, trades, params, equity, bar-by-bar curves; for
portfolio runs also the account, orders, fills, order history and risk events) in a DuckDB file or a
PostgreSQL database, one schema (storage/schema.py).

A run's life: `start` records it `running` (host, pid, heartbeat) before work begins; `save`
writes its tables and marks it `complete` in one transaction; `fail` records the message. A
`running` run whose process is gone (dead pid on this host, or a stale heartbeat) is listed as
`interrupted`. A run `key` makes a re-run replace the earlier one instead of adding rows.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage import frames, schema
from adaptrade.storage.backend import Backend, display

if TYPE_CHECKING:  # the engine (numba) is not needed to read runs back
    from adaptrade.backtest.results import BacktestResult

SCHEMA_VERSION = schema.VERSION
DATA_TABLES = {"stocks": "run_stocks", "trades": "run_trades", "params": "run_params", "equity": "run_equity"}
EXTRA_TABLES = {"orders": "run_orders", "fills": "run_fills", "risk_events": "run_risk_events",
                "order_history": "run_order_history", "account": "run_account", "curves": "run_curves"}  # optional, per run
LIST_COLUMNS = ["id", "created", "mode", "source", "strategy", "stocks", "dates", "mean_return", "account_return", "beat_share",
                "mean_sharpe", "status"]
LIVE = "running"


def _insert_frame(b: Backend, table: str, df: pd.DataFrame, run_id: str, row0: int = 0) -> None:
    """Append `df` to the run table `table` tagged with run_id (one bulk write; `row0`: its first row number)."""
    name = next(k for k, (t, _) in schema.RUN_TABLES.items() if t == table)
    frames.write(b, table, df, schema.RUN_TABLES[name][1], {"run_id": run_id}, row0)


class RunStore:
    """The runs of one store (a DuckDB path or a postgresql:// URL); a context manager.

    Read-write opens apply pending migrations; read-only opens read an older store as it is. A
    store written by a newer version is refused."""

    def __init__(self, target: str | Path, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        self.target = str(target)
        self.path = display(self.target)
        self.read_only = read_only
        self._b = schema.open_store(self.target, read_only, lock_timeout, "run store")

    @property
    def backend(self) -> Backend:
        """The open connection (for the db commands and analytics)."""
        return self._b

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (releases a DuckDB file lock)."""
        self._b.close()

    # ------------------------------------------------------------------ lifecycle

    def start(self, kind: str, settings: dict[str, Any] | None = None, key: str | None = None) -> str:
        """Record a new run as `running` (host, pid, heartbeat now) and return its id; committed at once."""
        now = _now()
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        with self._b.transaction("cannot record the run"):
            self._b.execute("INSERT INTO runs (id, created, settings, summary, status, dtypes, kind, run_key, host, pid, heartbeat) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [run_id, now, _dumps(settings or {}), _dumps({}), LIVE, _dumps({}), kind, key, socket.gethostname(),
                             os.getpid(), now])
        return run_id

    def resume(self, run_id: str, kind: str, settings: dict[str, Any] | None = None) -> str:
        """Record the run with the fixed id `run_id` as `running` (host, pid, heartbeat now): a new row, or the
        same row again when its process restarts (a paper session); its data rows stay until the next
        `save_tables`. Committed at once; returns run_id."""
        now = _now()
        with self._b.transaction("cannot record the run"):
            if self._b.fetchall("SELECT id FROM runs WHERE id = ?", [run_id]):
                self._b.execute("UPDATE runs SET status = ?, kind = ?, host = ?, pid = ?, heartbeat = ?, finished = NULL, "
                                "message = NULL, settings = ? WHERE id = ?",
                                [LIVE, kind, socket.gethostname(), os.getpid(), now, _dumps(settings or {}), run_id])
            else:
                self._b.execute("INSERT INTO runs (id, created, settings, summary, status, dtypes, kind, host, pid, heartbeat) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [run_id, now, _dumps(settings or {}), _dumps({}), LIVE, _dumps({}), kind, socket.gethostname(),
                                 os.getpid(), now])
        return run_id

    def save_tables(self, run_id: str, tables: dict[str, pd.DataFrame], settings: dict[str, Any], summary: dict[str, Any],
                    complete: bool) -> None:
        """Replace the rows of run `run_id` by `tables` (named as load_run names them), with its settings and
        summary, in one transaction: marked `complete` when `complete`, else left `running` with a fresh
        heartbeat. Idempotent: the same call twice leaves the same rows (a restarted paper session)."""
        known = {**DATA_TABLES, **EXTRA_TABLES}
        unknown = sorted(set(tables) - set(known))
        if unknown:
            raise ValueError(f"unknown run tables {unknown}; known: {sorted(known)}")
        dtypes = {name: frames.dtypes_of(df) for name, df in tables.items()}
        b, now = self._b, _now()
        with b.transaction("cannot save the run"):
            if not b.fetchall("SELECT id FROM runs WHERE id = ?", [run_id]):  # deleted under a running session
                b.execute("INSERT INTO runs (id, created, status, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                          [run_id, now, LIVE, socket.gethostname(), os.getpid(), now])
            self._delete(run_id, keep_row=True)
            for name, df in tables.items():
                _insert_frame(b, known[name], df, run_id)
            b.execute("UPDATE runs SET settings = ?, summary = ?, status = ?, dtypes = ?, heartbeat = ?, finished = ? WHERE id = ?",
                      [_dumps(settings), _dumps(summary), _status(summary) if complete else LIVE, _dumps(dtypes), now,
                       now if complete else None, run_id])

    def heartbeat(self, run_id: str) -> None:
        """Refresh a running run's heartbeat."""
        self._b.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = ?", [_now(), run_id, LIVE])

    def fail(self, run_id: str, message: str) -> None:
        """Mark a running run `failed` with `message` (its partial data, if any, is never written)."""
        with self._b.transaction("cannot record the failure"):
            self._b.execute("UPDATE runs SET status = 'failed', message = ?, finished = ? WHERE id = ? AND status = ?",
                            [message[:2000], _now(), run_id, LIVE])

    def save(self, result: BacktestResult, summary: dict[str, Any], extra: dict[str, pd.DataFrame] | None = None,
             run_id: str | None = None, key: str | None = None, kind: str = "backtest") -> str:
        """Store `result` and its `summary` atomically and mark the run complete; returns the run id.

        `run_id`: a run recorded by `start` (its row is completed in the same transaction). `key`: an
        idempotent key; an earlier run with the same key is replaced. `extra` (portfolio mode): frames
        named orders, fills, risk_events, order_history, account. The run's bar-by-bar curves (storage/curves.py:
        the average, or with `account` the account's) are stored with it unless `extra` gives `curves` (None: none, as a
        run stored before schema version 8).
        """
        unknown = sorted(set(extra or {}) - set(EXTRA_TABLES))
        if unknown:
            raise ValueError(f"unknown extra run tables {unknown}; known: {sorted(EXTRA_TABLES)}")
        extra = dict(extra or {})
        if "curves" not in extra:
            from adaptrade.storage.curves import run_curves

            extra["curves"] = run_curves(result, extra.get("account"))
        frames_ = {name: getattr(result, name) for name in ("stocks", "trades", "params")}
        # a streamed run (reports.stream) hands equity over as its Parquet file: never the whole table in memory,
        # and never through pandas (its dtypes, for the load, come from an empty frame of the same columns)
        streamed = hasattr(result, "equity_dtypes")
        frames_["equity"] = result.equity_dtypes() if streamed else result.equity_long()
        frames_.update({k: v for k, v in (extra or {}).items() if v is not None})
        dtypes = {name: frames.dtypes_of(df) for name, df in frames_.items()}
        b, now = self._b, _now()
        with b.transaction("cannot save the run"):
            if key is not None:
                old = [r[0] for r in b.fetchall("SELECT id FROM runs WHERE run_key = ? AND id <> ?", [key, run_id or ""])]
                for rid in old:
                    self._delete(rid)
            if run_id is None:
                run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
                b.execute("INSERT INTO runs (id, created, status, kind, run_key, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [run_id, now, LIVE, kind, key, socket.gethostname(), os.getpid(), now])
            else:
                self._delete(run_id, keep_row=True)
            for name, df in frames_.items():
                _insert_frame(b, {**DATA_TABLES, **EXTRA_TABLES}[name], df, run_id)
            if streamed:  # a streamed run's equity.parquet, read by the store itself
                frames.write_parquet(b, DATA_TABLES["equity"], result.equity_path, schema.EQUITY, {"run_id": run_id})
            b.execute("UPDATE runs SET settings = ?, summary = ?, status = ?, dtypes = ?, finished = ?, heartbeat = ?, "
                      "run_key = COALESCE(?, run_key) WHERE id = ?",
                      [_dumps(_run_settings(result)), _dumps(summary), _status(summary), _dumps(dtypes), now, now, key, run_id])
        return run_id

    def _delete(self, run_id: str, keep_row: bool = False) -> None:
        """Remove a run's data rows (and its runs row unless keep_row); inside the caller's transaction."""
        have = self._b.tables()
        for table in {**DATA_TABLES, **EXTRA_TABLES}.values():
            if table in have:
                self._b.execute(f'DELETE FROM "{table}" WHERE run_id = ?', [run_id])
        if not keep_row:
            self._b.execute("DELETE FROM runs WHERE id = ?", [run_id])

    # ------------------------------------------------------------------ reading

    def list_runs(self, stale_after: float = 60.0) -> pd.DataFrame:
        """One row per run, oldest first: id, created, source, strategy, stocks, dates, headline metrics,
        status (running / interrupted / failed / partial / complete)."""
        if "runs" not in self._b.tables():
            return pd.DataFrame({c: pd.Series(dtype=object) for c in LIST_COLUMNS})
        cols = self._b.columns("runs")
        life = ", ".join(c if c in cols else f"NULL AS {c}" for c in ("host", "pid", "heartbeat", "message"))
        rows = self._query(f"SELECT id, created, settings, summary, status, {life} FROM runs ORDER BY created, id")
        out = []
        for rid, created, settings, summary, status, host, pid, beat, _msg in rows:
            s, m = json.loads(settings or "{}"), json.loads(summary or "{}")
            agg = m.get("aggregate") if isinstance(m.get("aggregate"), dict) else m
            mode = s.get("mode") or "per-stock"
            out.append({"id": rid, "created": created, "mode": mode, "source": s.get("source"), "strategy": s.get("strategy"),
                        "stocks": s.get("stocks"), "dates": f"{s.get('start')} .. {s.get('end')}" if s.get("start") else None,
                        "mean_return": _num(agg.get("mean_return")),
                        "account_return": _num(agg.get("total_return")) if mode == "portfolio" else None,
                        "beat_share": _num(agg.get("beat_benchmark_share")),
                        "mean_sharpe": _num(agg.get("mean_sharpe")),
                        "status": live_status(status, host, pid, beat, stale_after)})
        df = pd.DataFrame(out, columns=LIST_COLUMNS)
        df["stocks"] = df["stocks"].astype("Int64")
        return df

    def run_ids(self) -> list[str]:
        """Every run id, oldest first."""
        if "runs" not in self._b.tables():
            return []
        return [r[0] for r in self._query("SELECT id FROM runs ORDER BY created, id")]

    def load_run(self, run_id: str) -> dict[str, Any]:
        """id, created, status, settings, summary and the stored frames of one run (stocks, trades,
        params, and whichever of equity, account, orders, fills, order_history, risk_events it has)."""
        rows = self._query("SELECT id, created, status, settings, summary, dtypes FROM runs WHERE id = ?", [run_id]) \
            if "runs" in self._b.tables() else []
        if not rows:
            raise StoreError(f"unknown run id '{run_id}'", file=self.path)
        rid, created, status, settings, summary, dtypes = rows[0]
        out: dict[str, Any] = {"id": rid, "created": created, "status": status, "settings": json.loads(settings or "{}"),
                               "summary": json.loads(summary or "{}")}
        saved = json.loads(dtypes or "{}")
        have = self._b.tables()
        for name, table in {**DATA_TABLES, **EXTRA_TABLES}.items():
            if name not in saved or table not in have:
                continue
            try:
                out[name] = frames.read(self._b, table, "run_id = ?", [run_id], saved[name])
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"cannot read the run store: {exc}".splitlines()[0], file=self.path) from None
        return out

    # --- `runs show PREFIX`, `runs delete ID`

    def resolve_id(self, prefix: str) -> str:
        """The one run id starting with `prefix`; StoreError when none or several match (they are listed)."""
        prefix = prefix.strip()
        ids = [i for i in self.run_ids() if i.startswith(prefix)] if prefix else []
        if not ids:
            raise StoreError(f"unknown run id '{prefix}' (see `adaptrade runs list`)", file=self.path)
        if len(ids) > 1 and prefix not in ids:
            shown = ", ".join(sorted(ids)[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")
            raise StoreError(f"run id prefix '{prefix}' is ambiguous: {shown}", file=self.path)
        return prefix if prefix in ids else ids[0]

    def delete_run(self, run_id: str) -> None:
        """Remove one run and its rows in every data table, in one transaction."""
        with self._b.transaction("cannot delete the run"):
            self._delete(run_id)

    def _query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query, database errors turned into StoreError naming the store."""
        try:
            return self._b.fetchall(sql, params or [])
        except Exception as exc:
            raise StoreError(f"cannot read the run store: {exc}".splitlines()[0], file=self.path) from None


def live_status(status: str, host: str | None, pid: int | None, heartbeat: str | None, stale_after: float) -> str:
    """`interrupted` for a running run whose process is gone (dead pid on this host, or no heartbeat for
    `stale_after` seconds); otherwise the stored status."""
    if status != LIVE:
        return status
    if host == socket.gethostname() and pid is not None and not process_alive(int(pid)):
        return "interrupted"
    if heartbeat:
        age = (datetime.now(UTC) - datetime.fromisoformat(heartbeat)).total_seconds()
        if age > stale_after:
            return "interrupted"
    return LIVE


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _num(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


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


