"""Runs moved between stores (DuckDB <-> PostgreSQL) with a row-count check, and a run exported as
Parquet. Rows travel as Arrow tables (bulk writes at both ends)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from adaptrade.errors import StoreError
from adaptrade.storage.backend import Backend, display
from adaptrade.storage.runs import DATA_TABLES, EXTRA_TABLES, RunStore

RUN_DATA = list({**DATA_TABLES, **EXTRA_TABLES}.values())


def _select(b: Backend, table: str, cols: list[str], run_id: str) -> object:
    return b.arrow(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" WHERE {"id" if table == "runs" else "run_id"} = ?',
                   [run_id])


def copy_runs(src: str, dst: str, run_ids: list[str] | None = None, lock_timeout: float = 30.0) -> dict[str, dict[str, int]]:
    """Copy runs (default: every run not running) from `src` to `dst`, each in one transaction that
    replaces a run of the same id; the rows are counted at the destination before the commit and a
    mismatch rolls the run back. Returns run id -> table -> rows copied."""
    out: dict[str, dict[str, int]] = {}
    with RunStore(src, read_only=True, lock_timeout=lock_timeout) as a, RunStore(dst, lock_timeout=lock_timeout) as z:
        sb, db = a.backend, z.backend
        ids = run_ids or [r for r, s in zip(a.list_runs()["id"], a.list_runs()["status"]) if s in ("complete", "partial")]
        known = set(a.run_ids())
        missing = [r for r in ids if r not in known]
        if missing:
            raise StoreError(f"unknown run id '{missing[0]}'", file=display(src))
        have_src, have_dst = sb.tables(), db.tables()
        for rid in ids:
            counts: dict[str, int] = {}
            with db.transaction(f"cannot copy run {rid}"):
                z._delete(rid)
                for table in ["runs", *RUN_DATA]:
                    if table not in have_src or table not in have_dst:
                        continue
                    dcols = db.columns(table)
                    cols = [c for c in sb.columns(table) if c in dcols]
                    data = _select(sb, table, cols, rid)
                    if data.num_rows:  # type: ignore[attr-defined]
                        db.write_arrow(table, data)
                    key = "id" if table == "runs" else "run_id"
                    got = db.fetchall(f'SELECT count(*) FROM "{table}" WHERE {key} = ?', [rid])[0][0]
                    if got != data.num_rows:  # type: ignore[attr-defined]
                        raise StoreError(f"run {rid}, table {table}: {got} rows arrived, {data.num_rows} sent",  # type: ignore[attr-defined]
                                         file=display(dst))
                    counts[table] = int(got)
            out[rid] = counts
    return out


def export_run(target: str, run_id: str, out_dir: Path, lock_timeout: float = 30.0) -> list[Path]:
    """Write one run as Parquet (one file per stored table, plus run.json with its settings and summary)
    into `out_dir`; written to a temporary sibling first and moved in, so nothing is half-written."""
    import pyarrow.parquet as pq

    with RunStore(target, read_only=True, lock_timeout=lock_timeout) as rs:
        run = rs.load_run(run_id)
        b = rs.backend
        have = b.tables()
        out_dir = Path(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            written = []
            for table in RUN_DATA:
                if table not in have:
                    continue
                cols = [c for c in b.columns(table) if c != "run_id"]
                data = _select(b, table, cols, run_id)
                if data.num_rows:  # type: ignore[attr-defined]
                    pq.write_table(data, tmp / f"{table}.parquet")  # type: ignore[arg-type]
                    written.append(out_dir / f"{table}.parquet")
            meta = {k: run[k] for k in ("id", "created", "status", "settings", "summary")}
            (tmp / "run.json").write_text(json.dumps(meta, indent=2, default=str))
            written.append(out_dir / "run.json")
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return written
