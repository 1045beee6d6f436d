"""`paper run --db`: the session recorded as run paper-SESSION on DuckDB and PostgreSQL, holding the rows of
its --out CSVs (and so the backtest's); SIGKILLed it shows interrupted, restarted it completes without duplicates."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.cli import app
from adaptrade.live.loop import current_state
from adaptrade.reports.files import params_frame, trades_frame
from adaptrade.storage.runs import RunStore
from tests.live.helpers import journal_lines, paper_env, replay_args

PERIOD = ("2019-01-01", "2020-12-31")


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for k in ("ADAPTRADE_PAPER_DIR", "ADAPTRADE_PAPER_EVENT_DELAY", "ADAPTRADE_DB_URL", "ADAPTRADE_DB_PATH"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ADAPTRADE_PAPER_PUBLISH", "false")
    monkeypatch.setenv("ADAPTRADE_MIN_TRADES_TO_ADAPT", "2")  # adapts within two years
    return tmp_path


def _run_rows(store: str, run_id: str) -> dict[str, int]:
    """Rows per run table of `run_id`, and how many runs rows carry that id."""
    with RunStore(store) as rs:
        b = rs.backend
        out = {t: int(b.fetchall(f'SELECT count(*) FROM "{t}" WHERE run_id = ?', [run_id])[0][0])
               for t in ("run_trades", "run_params", "run_orders", "run_fills")}
        out["runs"] = int(b.fetchall("SELECT count(*) FROM runs WHERE id = ?", [run_id])[0][0])
    return out


def _assert_store_holds_the_csvs(run: dict[str, object], out: Path) -> None:
    """The stored frames, written as --out writes them, are the session's files byte for byte."""
    stored = SimpleNamespace(trades=run["trades"], params=run["params"])
    assert trades_frame(stored).to_csv(index=False) == (out / "trades.csv").read_text()  # type: ignore[arg-type]
    assert params_frame(stored).to_csv(index=False) == (out / "params.csv").read_text()  # type: ignore[arg-type]
    for name in ("orders", "fills"):
        assert run[name].to_csv(index=False) == (out / f"{name}.csv").read_text(), name  # type: ignore[attr-defined]


def test_session_with_db_stores_its_csv_rows_and_the_backtests(sample_dir: Path, in_tmp: Path, store_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_PAPER_COMPACT_EVERY", "100")  # several writes while the session plays
    args = replay_args(sample_dir, "AAPL,MSFT,NVDA", *PERIOD)
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--db", store_url])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["paper", "run", *args, "--out", "pp", "--session", "parity", "--db", store_url])
    assert r.exit_code == 0, r.output
    assert "stored as run paper-parity" in r.output
    with RunStore(store_url) as rs:
        listed = rs.list_runs().set_index("id")
        bt_id = next(i for i in listed.index if i != "paper-parity")
        paper, bt = rs.load_run("paper-parity"), rs.load_run(bt_id)
    assert listed.loc["paper-parity", "status"] == "complete" and listed.loc["paper-parity", "mode"] == "paper"
    assert listed.loc["paper-parity", "source"] == "archive" and listed.loc["paper-parity", "stocks"] == 3
    assert paper["settings"]["paper_mode"] == "per-stock" and paper["summary"]["session_status"] == "done"
    from adaptrade.api.store_access import Page, RunFilters, StoreAccess  # what GET /runs?mode=paper reads

    sa = StoreAccess(store_url)
    try:
        rows, total = sa.list_runs(RunFilters(mode="paper"), Page(0, 10))
    finally:
        sa.close()
    assert [r["id"] for r in rows] == ["paper-parity"] and total == 1
    _assert_store_holds_the_csvs(paper, in_tmp / "pp")
    assert len(paper["trades"]) > 3 and len(paper["params"]) > 1 and len(paper["fills"]) > 5
    for name in ("trades", "params"):  # the backtest's stored rows, value for value
        pd.testing.assert_frame_equal(paper[name].astype({"symbol": str}), bt[name].astype({"symbol": str}), check_dtype=False)
    r = CliRunner().invoke(app, ["runs", "show", "paper-parity", "--db", store_url])
    assert r.exit_code == 0 and "stored tables" in r.output and "Traceback" not in r.output, r.output
    # --no-store leaves the store alone
    r = CliRunner().invoke(app, ["paper", "run", *args, "--session", "off", "--db", store_url, "--no-store"])
    assert r.exit_code == 0, r.output
    with RunStore(store_url) as rs:
        assert "paper-off" not in rs.run_ids()


def _status(store: str, run_id: str) -> str | None:
    """The run's status as `runs list --format json` prints it (None: not recorded yet)."""
    r = CliRunner().invoke(app, ["runs", "list", "--db", store, "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in json.loads(r.output)}
    return rows[run_id]["status"] if run_id in rows else None


def test_sigkilled_session_is_interrupted_then_completes_without_duplicates(sample_dir: Path, in_tmp: Path,
                                                                             store_url: str) -> None:
    every = 10
    args = [*replay_args(sample_dir, "AAPL,MSFT,NVDA", *PERIOD), "--session", "k", "--db", store_url]
    env = {**paper_env(in_tmp, 0.02), "ADAPTRADE_PAPER_COMPACT_EVERY": str(every), "ADAPTRADE_MIN_TRADES_TO_ADAPT": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "adaptrade", "paper", "run", *args], cwd=in_tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    folder = in_tmp / "paper" / "k"
    try:
        deadline = time.monotonic() + 120
        while sum(e["event"] == "close" for e in journal_lines(folder)) < 3 * every:  # three store writes behind it
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.02)
        assert _status(store_url, "paper-k") == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _status(store_url, "paper-k") == "interrupted"
    with RunStore(store_url) as rs:
        trailing = rs.load_run("paper-k")["summary"]
    cursor = current_state(folder)["cursor"]  # type: ignore[index]
    assert 0 < trailing["sessions_played"] <= cursor <= trailing["sessions_played"] + every + 1  # trails by one compaction at most
    r = CliRunner().invoke(app, ["paper", "run", *args, "--paper-dir", str(in_tmp / "paper"), "--out", "pp"])
    assert r.exit_code == 0, r.output
    assert _status(store_url, "paper-k") == "complete"
    with RunStore(store_url) as rs:
        run = rs.load_run("paper-k")
    _assert_store_holds_the_csvs(run, in_tmp / "pp")
    rows = _run_rows(store_url, "paper-k")
    assert rows == {"run_trades": len(run["trades"]), "run_params": len(run["params"]), "run_orders": len(run["orders"]),
                    "run_fills": len(run["fills"]), "runs": 1}
    assert rows["run_fills"] > 5


def test_portfolio_session_with_db_stores_the_portfolio_backtests_rows(sample_dir: Path, in_tmp: Path, store_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_KELLY_MIN_TRADES", "2")
    monkeypatch.setenv("ADAPTRADE_PAPER_COMPACT_EVERY", "200")  # a write mid-session, then the final one
    args = replay_args(sample_dir, "AAPL,MSFT,NVDA,AMZN", "2018-01-01", "2020-12-31")
    r = CliRunner().invoke(app, ["backtest", "--mode", "portfolio", "--source", "archive", *args, "--db", store_url])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["paper", "run", "--mode", "portfolio", *args, "--out", "pp", "--session", "pf", "--db", store_url])
    assert r.exit_code == 0 and "stored as run paper-pf" in r.output, r.output
    with RunStore(store_url) as rs:
        bt_id = next(i for i in rs.run_ids() if i != "paper-pf")
        paper, bt = rs.load_run("paper-pf"), rs.load_run(bt_id)
    assert paper["status"] == "complete" and paper["settings"]["paper_mode"] == "portfolio"
    _assert_store_holds_the_csvs(paper, in_tmp / "pp")
    assert len(paper["orders"]) > 5 and len(paper["fills"]) > 5
    for name in ("trades", "params", "orders", "fills"):
        pd.testing.assert_frame_equal(paper[name].astype({"symbol": str}), bt[name].astype({"symbol": str}), check_dtype=False)
    assert _run_rows(store_url, "paper-pf")["runs"] == 1
