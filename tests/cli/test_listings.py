"""Listings a researcher reads: not cut when piped, --format table|csv|json, runs show/delete/compare, scores per source."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.helpers import cli, one_line_error


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run store with two synthetic runs that differ in strategy and commission."""
    d = tmp_path_factory.mktemp("runs")
    db = d / "runs.duckdb"
    for extra in ((), ("--strategy", "fixed", "--commission-bps", "3")):
        r = cli("backtest", "--stocks", "3", "--bars", "300", "--db", str(db), *extra, cwd=d)
        assert r.returncode == 0, r.stderr
    return db


def _ids(db: Path) -> list[str]:
    r = cli("runs", "list", "--db", str(db), "--format", "json", cwd=db.parent)
    assert r.returncode == 0, r.stderr
    return [row["id"] for row in json.loads(r.stdout)]


def test_runs_list_formats_and_no_cut_when_piped(store: Path) -> None:
    r = cli("runs", "list", "--db", str(store), cwd=store.parent)
    assert r.returncode == 0
    assert "…" not in r.stdout and max(len(ln) for ln in r.stdout.splitlines()) > 150  # wider than the old cut
    csv = pd.read_csv(io.StringIO(cli("runs", "list", "--db", str(store), "--format", "csv", cwd=store.parent).stdout))
    assert list(csv.columns[:4]) == ["id", "created", "mode", "source"] and len(csv) == 2
    assert csv["dates"].str.contains(r"\d{4}-\d{2}-\d{2} \.\. \d{4}-\d{2}-\d{2}").all()  # full values
    one_line_error(cli("runs", "list", "--db", str(store), "--format", "xml", cwd=store.parent), "unknown format 'xml'")


def test_runs_show_accepts_a_unique_prefix(store: Path) -> None:
    a, b = _ids(store)
    r = cli("runs", "show", a[:-3], "--db", str(store), cwd=store.parent)
    assert r.returncode == 0, r.stderr
    assert f"run {a}" in r.stdout
    one_line_error(cli("runs", "show", a[:4], "--db", str(store), cwd=store.parent), "ambiguous", a, b)
    one_line_error(cli("runs", "show", "zzz", "--db", str(store), cwd=store.parent), "unknown run id 'zzz'")
    doc = json.loads(cli("runs", "show", a, "--db", str(store), "--format", "json", cwd=store.parent).stdout)
    assert doc["id"] == a and len(doc["stocks"]) == 3


def test_runs_compare_prints_setting_differences_and_metrics(store: Path) -> None:
    a, b = _ids(store)
    r = cli("runs", "compare", a, b, "--db", str(store), "--format", "csv", cwd=store.parent)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(r.stdout))
    diff = df[df["section"] == "setting"].set_index("name")
    assert set(diff.index) == {"strategy", "commission_bps"}
    assert diff.loc["strategy", a] == "adaptive" and diff.loc["strategy", b] == "fixed"
    assert {"mean_return", "mean_sharpe", "beat_benchmark"} <= set(df.loc[df["section"] == "metric", "name"])
    table = cli("runs", "compare", a[:-2], b[:-2], "--db", str(store), cwd=store.parent)
    assert table.returncode == 0 and "commission_bps" in table.stdout and "mean_sharpe" in table.stdout


def test_runs_delete_removes_one_run(tmp_path: Path, store: Path) -> None:
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(store, db)
    a, b = _ids(db)
    r = cli("runs", "delete", a, "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0 and f"deleted run {a}" in r.stdout, r.stderr
    assert _ids(db) == [b]
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM run_stocks WHERE run_id = ?", [a]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM run_stocks WHERE run_id = ?", [b]).fetchone()[0] == 3
    con.close()
    one_line_error(cli("runs", "delete", a, "--db", str(db), cwd=tmp_path), "unknown run id")


def test_universe_list_is_a_table_with_formats(tmp_path: Path) -> None:
    r = cli("universe", "list", "--sector", "Utilities", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "┃ symbol" in r.stdout and "Utilities" in r.stdout
    rows = json.loads(cli("universe", "list", "--sector", "Utilities", "--format", "json", cwd=tmp_path).stdout)
    assert rows and all(row["sector"] == "Utilities" for row in rows) and {"symbol", "name"} <= set(rows[0])
    one_line_error(cli("universe", "list", "--symbols", "", cwd=tmp_path), "--symbols is empty")


def test_universe_scores_are_kept_per_source(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    r = cli("cycle", "--cycles", "2", "--period-bars", "100", "--stocks", "6", "--select", "2", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(cli("universe", "scores", "--db", str(db), "--format", "csv", cwd=tmp_path).stdout))
    assert "source" in df.columns and set(df["source"]) == {"synthetic"} and len(df) == 6
    only_real = cli("universe", "scores", "--db", str(db), "--source", "archive", "--format", "json", cwd=tmp_path)
    assert only_real.returncode == 0 and json.loads(only_real.stdout) == []
    one_line_error(cli("universe", "scores", "--db", str(db), "--top", "0", cwd=tmp_path), "--top must be at least 1")
    one_line_error(cli("universe", "scores", "--db", str(db), "--source", "yahoo", cwd=tmp_path), "unknown source")


def test_cycle_defaults_to_the_dollar_volume_filter(tmp_path: Path, sample_dir: Path) -> None:
    base = ("cycle", "--source", "archive", "--data-dir", str(sample_dir), "--cycles", "2", "--period-bars", "250", "--select", "3", "--no-store")
    r = cli(*base, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "liquidity filter: average close x volume >= $20,000,000" in r.stdout and "share threshold" not in r.stdout
    shares = cli(*base, "--min-volume", "1000", cwd=tmp_path)
    assert shares.returncode == 0 and "1,000 shares" in shares.stdout and "share threshold" in shares.stdout
