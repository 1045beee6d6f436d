"""The run store on both backends (DuckDB file, PostgreSQL): round trip, listing, errors, atomicity,
migrations, and the `runs` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.backtest.aggregate import aggregate
from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.data.synthetic import generate, synthetic_benchmark
from adaptrade.errors import StoreError
from adaptrade.storage import runs as runs_mod
from adaptrade.storage import schema
from adaptrade.storage.backend import connect
from adaptrade.storage.runs import LIST_COLUMNS, RunStore
from adaptrade.strategy.params import StrategyConfig


def _result(n: int, bars: int, seed: int = 3, config: StrategyConfig | None = None) -> BacktestResult:
    b = generate([f"S{i:03d}" for i in range(n)], bars, seed)
    out = run_backtest(b, config or StrategyConfig())
    return build_result(out, synthetic_benchmark(b.dates, seed), "^SYNTH-SPX", settings={"source": "synthetic", "seed": seed})


@pytest.fixture(scope="module")
def small() -> BacktestResult:
    return _result(6, 1500)


def _rows(db: Path | str, table: str) -> int:
    """Rows of `table` in the store (0 when it does not exist)."""
    b = connect(str(db))
    try:
        return b.fetchall(f"SELECT count(*) FROM {table}")[0][0] if table in b.tables() else 0
    finally:
        b.close()


def test_round_trip_gives_equal_frames(store_url: str, small: BacktestResult) -> None:
    assert len(small.trades) > 0 and len(small.params) > 0
    summary = aggregate(small.stocks)
    with RunStore(store_url) as st:
        rid = st.save(small, summary)
        run = st.load_run(rid)
    for name in ("stocks", "trades", "params"):
        pd.testing.assert_frame_equal(run[name], getattr(small, name), check_exact=True)
    assert run["summary"] == json.loads(json.dumps(summary))
    assert run["settings"]["source"] == "synthetic" and run["settings"]["stocks"] == 6
    assert run["settings"]["strategy"] == "adaptive" and run["status"] == "complete"
    assert run["created"].endswith("+00:00")  # UTC ISO


def test_reopen_and_list_after_two_saves(store_url: str, small: BacktestResult) -> None:
    db = store_url
    fixed = _result(4, 800, config=StrategyConfig(kind="fixed"))  # no parameter changes: empty params table first
    with RunStore(db) as st:
        a = st.save(fixed, aggregate(fixed.stocks))
    with RunStore(db) as st:
        b = st.save(small, {"settings": small.settings, "aggregate": aggregate(small.stocks), "complete": True})
        runs = st.list_runs()
        again = st.load_run(a)
    assert list(runs.columns) == LIST_COLUMNS
    assert runs["id"].tolist() == [a, b] and a != b
    assert runs["stocks"].tolist() == [4, 6]
    assert runs["strategy"].tolist() == ["fixed", "adaptive"]
    # the CLI's nested summary form is read too
    assert runs["mean_return"].iloc[1] == pytest.approx(small.stocks["total_return"].mean())
    assert runs["beat_share"].iloc[0] == pytest.approx(aggregate(fixed.stocks)["beat_benchmark_share"])
    assert runs["dates"].iloc[0] == f"{fixed.dates[0]} .. {fixed.dates[-1]}"
    pd.testing.assert_frame_equal(again["params"], fixed.params)
    assert len(again["params"]) == 0


def test_new_columns_are_added_and_old_runs_unchanged(store_url: str, small: BacktestResult) -> None:
    extra = replace(small, stocks=small.stocks.assign(sortino=np.linspace(0, 1, len(small.stocks))))
    with RunStore(store_url) as st:
        old = st.save(small, {})
        new = st.save(extra, {"complete": False, "failed_symbols": ["X"]})
        pd.testing.assert_frame_equal(st.load_run(new)["stocks"], extra.stocks)
        pd.testing.assert_frame_equal(st.load_run(old)["stocks"], small.stocks)
        assert st.list_runs()["status"].tolist() == ["complete", "partial"]


def test_unknown_id_names_it(store_url: str, small: BacktestResult) -> None:
    with RunStore(store_url) as st:
        st.save(small, {})
        with pytest.raises(StoreError, match="unknown run id 'nope'") as err:
            st.load_run("nope")
    assert err.value.file == store_url


@pytest.mark.parametrize("content", [b"this is not a database\n" * 50, b""])
def test_corrupt_file_is_a_store_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(content)
    for ro in (False, True):
        with pytest.raises(StoreError) as err:
            RunStore(bad, read_only=ro)
        assert str(bad) in str(err.value)


def test_failed_save_leaves_nothing(store_url: str, small: BacktestResult, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store_url
    real = runs_mod._insert_frame

    def failing(con: object, table: str, df: pd.DataFrame, run_id: str) -> None:
        if table == "run_params":  # after runs, run_stocks and run_trades were written
            raise RuntimeError("disk full (simulated)")
        real(con, table, df, run_id)

    with RunStore(db) as st:
        keep = st.save(small, {})
        monkeypatch.setattr(runs_mod, "_insert_frame", failing)
        with pytest.raises(RuntimeError, match="simulated"):
            st.save(small, {})
        monkeypatch.setattr(runs_mod, "_insert_frame", real)
        assert st.list_runs()["id"].tolist() == [keep]
        later = st.save(small, {})  # the connection is still usable
    assert [_rows(db, t) for t in ("runs", "run_stocks", "run_trades", "run_params")] == [
        2, 2 * len(small.stocks), 2 * len(small.trades), 2 * len(small.params)
    ]
    assert later != keep


def test_first_save_failing_creates_no_tables(store_url: str, small: BacktestResult, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store_url
    real = runs_mod._insert_frame

    def failing(con: object, table: str, df: pd.DataFrame, run_id: str) -> None:
        real(con, table, df, run_id)
        if table == "run_trades":
            raise RuntimeError("boom")

    monkeypatch.setattr(runs_mod, "_insert_frame", failing)
    with RunStore(db) as st, pytest.raises(RuntimeError):
        st.save(small, {})
    assert [_rows(db, t) for t in ("runs", "run_stocks", "run_trades")] == [0, 0, 0]


def test_schema_version_and_newer_store_refused(store_url: str) -> None:
    RunStore(store_url).close()
    b = connect(store_url)
    assert b.fetchall("SELECT version FROM schema_version") == [(runs_mod.SCHEMA_VERSION,)]
    assert [r[0] for r in b.fetchall("SELECT version FROM schema_migrations ORDER BY version")] == [m.version for m in schema.MIGRATIONS]
    b.execute("UPDATE schema_version SET version = 99")
    b.close()
    for ro in (False, True):
        with pytest.raises(StoreError, match="version 99 is newer than this adaptrade supports"):
            RunStore(store_url, read_only=ro)


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def store(store_url: str, small: BacktestResult) -> tuple[str, list[str]]:
    db = store_url
    with RunStore(db) as st:
        ids = [st.save(small, aggregate(small.stocks)), st.save(small, {"aggregate": aggregate(small.stocks)})]
    return db, ids


def test_cli_list_and_show(store: tuple[Path, list[str]], small: BacktestResult) -> None:
    from adaptrade.cli import app

    db, ids = store
    runner = CliRunner()
    r = runner.invoke(app, ["runs", "list", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert all(i in r.output for i in ids) and "synthetic" in r.output
    r = runner.invoke(app, ["runs", "show", ids[1], "--db", str(db), "--top", "3"])
    assert r.exit_code == 0, r.output
    best = small.stocks.sort_values("sharpe", ascending=False)["symbol"].iloc[0]
    assert ids[1] in r.output and "mean_return" in r.output and best in r.output and "top 3 of 6" in r.output


def test_cli_empty_and_errors(tmp_path: Path, store: tuple[Path, list[str]]) -> None:
    from adaptrade.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["runs", "list", "--db", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 0 and "no runs" in r.output
    r = runner.invoke(app, ["runs", "show", "nope", "--db", str(store[0])])
    assert r.exit_code == 2
    assert "unknown run id 'nope'" in r.stderr and "Traceback" not in r.output


def test_cli_subprocess_errors_without_traceback(tmp_path: Path, store: tuple[Path, list[str]]) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_text("garbage")
    for args, names in ((["runs", "list", "--db", str(bad)], str(bad)), (["runs", "show", "nope", "--db", str(store[0])], "'nope'")):
        p = subprocess.run([sys.executable, "-m", "adaptrade", *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2, p
        assert "Traceback" not in p.stderr + p.stdout
        assert p.stderr.startswith("error:") and names in p.stderr.replace("\n", "")


# --------------------------------------------------------------------------- portfolio tables (schema 2)


def _extra(n: int = 40) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(2)
    ids = [f"S{k % 5:03d}-2020-01-{1 + k % 28:02d}-{k}" for k in range(n)]
    orders = pd.DataFrame({"order_id": ids, "symbol": [i[:4] for i in ids], "side": np.where(rng.random(n) > 0.5, "buy", "sell"),
                           "quantity": rng.integers(1, 500, n).astype(np.float64), "order_type": "market",
                           "limit_price": np.where(rng.random(n) > 0.7, 101.5, np.nan), "created": "2020-01-02T16:00:00",
                           "status": "filled", "est_cost_bps": rng.random(n) * 10})
    fills = pd.DataFrame({"order_id": ids[: n // 2] * 2, "symbol": [i[:4] for i in ids[: n // 2]] * 2, "side": "buy",
                          "quantity": rng.random(n) * 100, "price": 100 + rng.random(n), "timestamp": "2020-01-03T09:30:00",
                          "commission": rng.random(n), "impact_bps": rng.random(n)})
    events = pd.DataFrame({"date": ["2020-01-03", "2020-02-03", "2020-03-03"], "symbol": ["S001", "ACCOUNT", "ACCOUNT"],
                           "rule": ["position_cap", "breaker_tripped", "breaker_reset"], "before": [0.2, 0.21, 0.05], "after": [0.1, 0.0, 0.0]})
    return {"orders": orders, "fills": fills, "risk_events": events}


def test_portfolio_tables_round_trip(store_url: str, small: BacktestResult) -> None:
    db = store_url
    extra = _extra()
    empty = {k: v.iloc[:0] for k, v in _extra().items()}
    with RunStore(db) as st:
        rid = st.save(small, {}, extra=extra)
        none = st.save(small, {}, extra=empty)
    with RunStore(db, read_only=True) as st:
        run = st.load_run(rid)
        for name, df in extra.items():
            pd.testing.assert_frame_equal(run[name], df, check_exact=True)
        for name in ("stocks", "trades", "params"):
            pd.testing.assert_frame_equal(run[name], getattr(small, name), check_exact=True)
        run0 = st.load_run(none)
        assert all(len(run0[k]) == 0 and list(run0[k].columns) == list(v.columns) for k, v in empty.items())
    assert [_rows(db, t) for t in ("run_orders", "run_fills", "run_risk_events")] == [40, 40, 3]


def test_per_stock_run_saves_and_loads_as_before(store_url: str, small: BacktestResult) -> None:
    with RunStore(store_url) as st:
        port = st.save(small, {}, extra=_extra())
        rid = st.save(small, aggregate(small.stocks))
        run = st.load_run(rid)
        assert not {"orders", "fills", "risk_events"} & set(run)
        for name in ("stocks", "trades", "params"):
            pd.testing.assert_frame_equal(run[name], getattr(small, name), check_exact=True)
        assert {"orders", "fills", "risk_events"} <= set(st.load_run(port))
        with pytest.raises(ValueError, match="unknown extra"):
            st.save(small, {}, extra={"history": pd.DataFrame()})
    assert _rows(store_url, "run_orders") == 40


def test_failed_extra_insert_leaves_nothing(store_url: str, small: BacktestResult, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store_url
    real = runs_mod._insert_frame

    def failing(con: object, table: str, df: pd.DataFrame, run_id: str) -> None:
        if table == "run_risk_events":
            raise RuntimeError("boom")
        real(con, table, df, run_id)

    monkeypatch.setattr(runs_mod, "_insert_frame", failing)
    with RunStore(db) as st, pytest.raises(RuntimeError):
        st.save(small, {}, extra=_extra())
    assert [_rows(db, t) for t in ("runs", "run_stocks", "run_orders", "run_fills")] == [0, 0, 0, 0]


def _store_at(db: str, version: int, small: BacktestResult) -> str:
    """A store as schema `version` wrote it (its migrations only), holding one run."""
    b = connect(db)
    with b.transaction("test"):
        b.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        b.execute(f"INSERT INTO schema_version VALUES ({version})")
        for m in schema.MIGRATIONS[:version]:
            schema._apply(b, m)
        for name in ("stocks", "trades", "params"):
            table, declared = schema.RUN_TABLES[name]
            from adaptrade.storage import frames

            frames.write(b, table, getattr(small, name), {c: t for c, t in declared.items() if c in b.columns(table)}, {"run_id": "old"})
        dtypes = json.dumps({n: frames.dtypes_of(getattr(small, n)) for n in ("stocks", "trades", "params")})
        b.execute("INSERT INTO runs (id, created, settings, summary, status, dtypes) VALUES ('old', '2020-01-01T00:00:00+00:00', ?, '{}', 'complete', ?)",
                  [json.dumps({"source": "synthetic", "stocks": 6}), dtypes])
    b.close()
    return "old"


def test_older_store_still_opens_and_migrates(store_url: str, small: BacktestResult) -> None:
    db = store_url
    rid = _store_at(db, 2, small)
    with RunStore(db, read_only=True) as st:  # read-only: read as it is
        run = st.load_run(rid)
        pd.testing.assert_frame_equal(run["stocks"], small.stocks)
        assert "equity" not in run and st.list_runs()["id"].tolist() == [rid]
    assert _rows(db, "run_equity") == 0
    with RunStore(db) as st:  # read-write: the migrations add the new tables and columns
        pd.testing.assert_frame_equal(st.load_run(rid)["trades"], small.trades)
        assert st.list_runs()["status"].tolist() == ["complete"]
        new = st.save(small, {}, extra=_extra())
        pd.testing.assert_frame_equal(st.load_run(new)["orders"], _extra()["orders"])
        b = st.backend
        assert b.fetchall("SELECT version FROM schema_version") == [(schema.VERSION,)]
        assert {"alpha", "beta", "sortino", "extra"} <= set(b.columns("run_stocks"))
        assert {"host", "pid", "heartbeat", "run_key"} <= set(b.columns("runs"))
        tables = b.tables()
    assert {"runs", "run_stocks", "run_equity", "run_account", "run_order_history", "quality_scores", "sweep_trials"} <= tables
    assert [_rows(db, t) for t in ("runs", "run_stocks")] == [2, 2 * len(small.stocks)]


def test_duckdb_store_written_by_the_previous_release_upgrades(tmp_path: Path, small: BacktestResult) -> None:
    """A schema-2 file as the frame-made tables of the old DuckDB-only store had it (JSON columns, no extra)."""
    db = tmp_path / "v2.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        con.execute("INSERT INTO schema_version VALUES (2)")
        con.execute("CREATE TABLE runs (id VARCHAR PRIMARY KEY, created VARCHAR NOT NULL, settings JSON, summary JSON, status VARCHAR NOT NULL, dtypes JSON)")
        from adaptrade.storage import frames

        for name in ("stocks", "trades"):
            df = getattr(small, name).copy()
            for c in df.columns:
                if isinstance(df[c].dtype, pd.CategoricalDtype):
                    df[c] = df[c].astype(str)
            df["_row"] = np.arange(len(df))
            con.register("f", df)
            con.execute(f"CREATE TABLE run_{name} AS SELECT 'r1' AS run_id, * FROM f")
            con.unregister("f")
        for t in ("run_params", "run_orders", "run_fills", "run_risk_events"):
            con.execute(f"CREATE TABLE {t} (run_id VARCHAR, _row BIGINT)")
        con.execute("INSERT INTO runs VALUES ('r1', '2020-01-01T00:00:00+00:00', ?, ?, 'complete', ?)",
                    [json.dumps({"source": "synthetic", "stocks": 6, "start": "2000-01-03", "end": "2005-12-30"}),
                     json.dumps({"mean_return": 0.1}), json.dumps({n: frames.dtypes_of(getattr(small, n)) for n in ("stocks", "trades")})])
    with RunStore(db) as st:
        run = st.load_run("r1")
        pd.testing.assert_frame_equal(run["stocks"], small.stocks)
        pd.testing.assert_frame_equal(run["trades"], small.trades)
        assert st.list_runs()["mean_return"].tolist() == [0.1]
        st.save(small, {})
    assert _rows(db, "runs") == 2


def test_cli_show_prints_stored_table_counts(store_url: str, small: BacktestResult) -> None:
    from adaptrade.cli import app

    db = store_url
    with RunStore(db) as st:
        port, plain = st.save(small, {}, extra=_extra()), st.save(small, {})
    runner = CliRunner()
    r = runner.invoke(app, ["runs", "show", port, "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "orders 40, fills 40, risk events 3" in " ".join(r.output.split())
    r = runner.invoke(app, ["runs", "show", plain, "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "stored tables" not in r.output
