"""`adaptrade db`: status and migrate on both backends, copy DuckDB -> PostgreSQL -> DuckDB with equal
frames, export as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from adaptrade.backtest.aggregate import aggregate
from adaptrade.cli import app
from adaptrade.storage import schema
from adaptrade.storage.backend import connect
from adaptrade.storage.runs import RunStore
from tests.storage.test_runs import _extra, _result, _store_at

runner = CliRunner()


def test_status_and_migrate(store_url: str) -> None:
    small = _result(3, 400)
    _store_at(store_url, 2, small)
    r = runner.invoke(app, ["db", "status", "--db", store_url])
    assert r.exit_code == 0, r.output
    assert "schema version 2" in r.output and "pending 3:" in r.output and "pending 4:" in r.output
    r = runner.invoke(app, ["db", "migrate", "--db", store_url])
    assert r.exit_code == 0 and "applied 3:" in r.output and "applied 4:" in r.output, r.output
    r = runner.invoke(app, ["db", "status", "--db", store_url])
    assert f"schema version {schema.VERSION}" in r.output and "no pending migrations" in r.output
    r = runner.invoke(app, ["db", "migrate", "--db", store_url])
    assert "nothing to do" in r.output
    b = connect(store_url)
    b.execute("UPDATE schema_version SET version = 42")
    b.close()
    r = runner.invoke(app, ["db", "status", "--db", store_url])
    assert r.exit_code == 2 and "version 42 is newer" in r.stderr


def test_copy_duckdb_to_postgresql_and_back(tmp_path: Path, pg_url: str) -> None:
    from tests.conftest import _empty_pg

    pg = _empty_pg(pg_url)
    a, z = str(tmp_path / "a.duckdb"), str(tmp_path / "z.duckdb")
    res = _result(5, 900)
    with RunStore(a) as st:
        ids = [st.save(res, aggregate(res.stocks)), st.save(res, {}, extra=_extra())]
    r = runner.invoke(app, ["db", "copy", "--from", a, "--to", pg])
    assert r.exit_code == 0 and "copied 2 runs" in r.output and "row counts checked" in r.output, r.output
    r = runner.invoke(app, ["db", "copy", "--from", pg, "--to", z, ids[1]])
    assert r.exit_code == 0 and "copied 1 runs" in r.output, r.output
    r = runner.invoke(app, ["db", "copy", "--from", a, "--to", pg])  # again: replaced, not duplicated
    assert r.exit_code == 0
    with RunStore(a) as s1, RunStore(pg) as s2, RunStore(z) as s3:
        assert s2.run_ids() == ids and s3.run_ids() == [ids[1]]
        one, two, three = s1.load_run(ids[1]), s2.load_run(ids[1]), s3.load_run(ids[1])
        for name in ("stocks", "trades", "params", "equity", "orders", "fills", "risk_events"):
            pd.testing.assert_frame_equal(two[name], one[name], check_exact=True)
            pd.testing.assert_frame_equal(three[name], one[name], check_exact=True)
        assert two["summary"] == one["summary"] and three["settings"] == one["settings"]
    r = runner.invoke(app, ["db", "copy", "--from", a, "--to", pg, "nope"])
    assert r.exit_code == 2 and "unknown run id 'nope'" in r.stderr


def test_export_writes_parquet(store_url: str, tmp_path: Path) -> None:
    res = _result(4, 500)
    with RunStore(store_url) as st:
        rid = st.save(res, aggregate(res.stocks))
    out = tmp_path / "exp"
    r = runner.invoke(app, ["db", "export", rid, "--to", str(out), "--db", store_url])
    assert r.exit_code == 0, r.output
    assert pq.read_table(out / "run_stocks.parquet").num_rows == 4
    assert pq.read_table(out / "run_equity.parquet").num_rows == len(res.equity_long())
    assert json.loads((out / "run.json").read_text())["id"] == rid
    r = runner.invoke(app, ["db", "export", "nope", "--to", str(tmp_path / "x"), "--db", store_url])
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
