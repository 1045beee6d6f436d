"""Run lifecycle on both backends: running -> complete in one transaction, failed with its message,
interrupted after SIGKILL; idempotent keys; two writers; the DuckDB lock error names the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from adaptrade.backtest.aggregate import aggregate
from adaptrade.errors import StoreError
from adaptrade.settings import load_settings
from adaptrade.storage.backend import connect, db_overrides
from adaptrade.storage.lifecycle import recorded
from adaptrade.storage.runs import RunStore, live_status
from tests.storage.test_runs import _result, _rows

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    env["PYTHONPATH"] = SRC
    return env | extra


def _backtest(db: str, stocks: int, bars: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "adaptrade", "backtest", "--source", "synthetic", "--stocks", str(stocks),
                             "--bars", str(bars), "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _statuses(db: str) -> list[str]:
    if not db.startswith("postgres") and not Path(db).exists():
        return []
    try:
        with RunStore(db, read_only=True, lock_timeout=0.2) as rs:
            return rs.list_runs()["status"].tolist()
    except StoreError:  # the DuckDB file is busy for a moment
        return []


def test_sigkill_mid_run_shows_interrupted_and_next_run_works(store_url: str) -> None:
    p = _backtest(store_url, 400, 2520)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "running" not in _statuses(store_url):
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    assert _statuses(store_url) == ["running"]  # recorded before the work, nothing complete yet
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert _statuses(store_url) == ["interrupted"]
    assert [_rows(store_url, t) for t in ("run_stocks", "run_trades", "run_equity")] == [0, 0, 0]
    q = _backtest(store_url, 3, 300)
    out, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert _statuses(store_url) == ["interrupted", "complete"]
    assert _rows(store_url, "run_stocks") == 3


def test_exception_marks_the_run_failed_with_its_message(store_url: str) -> None:
    settings = load_settings(**db_overrides(store_url))

    @recorded("backtest")
    def work(settings: object, store: bool, rec: object = None) -> None:
        assert rec is not None
        assert _statuses(store_url) == ["running"]
        raise RuntimeError("disk on fire (simulated)")

    with pytest.raises(RuntimeError):
        work(settings, True)
    b = connect(store_url)
    assert b.fetchall("SELECT status, message FROM runs") == [("failed", "RuntimeError: disk on fire (simulated)")]
    b.close()
    assert _rows(store_url, "run_stocks") == 0


def test_stale_heartbeat_or_dead_pid_is_interrupted() -> None:
    import socket
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    old = (now - timedelta(seconds=120)).isoformat()
    assert live_status("running", socket.gethostname(), os.getpid(), now.isoformat(), 60) == "running"
    assert live_status("running", "elsewhere", 1, old, 60) == "interrupted"
    assert live_status("running", "elsewhere", 1, now.isoformat(), 60) == "running"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert live_status("running", socket.gethostname(), dead.pid, now.isoformat(), 60) == "interrupted"
    assert live_status("complete", "elsewhere", 1, old, 60) == "complete"


def test_same_key_replaces_instead_of_duplicating(store_url: str) -> None:
    res = _result(3, 400)
    with RunStore(store_url) as st:
        a = st.save(res, aggregate(res.stocks), key="cycle-7")
        b = st.save(res, aggregate(res.stocks), key="cycle-7")
        c = st.save(res, {}, key="other")
        assert st.run_ids() == [b, c] and a != b
    assert _rows(store_url, "run_stocks") == 6 and _rows(store_url, "run_equity") == 2 * len(res.equity_long())


def test_trial_store_sweep_id_is_idempotent(store_url: str) -> None:
    from adaptrade.storage.trials import TrialStore

    trials = pd.DataFrame({"trial": [0, 1], "excess_sharpe": [0.1, 0.2], "error": [None, None], "config_key": ["a", "b"],
                           "rsi_period": [10, 14]})
    with TrialStore(store_url) as ts:
        sid = ts.save("k", {}, {}, trials, sweep_id="s1")
        ts.save("k", {}, {}, trials, sweep_id="s1")
        got = ts.trials(sid)
    assert _rows(store_url, "sweep_trials") == 2 and _rows(store_url, "sweeps") == 1
    assert got["rsi_period"].tolist() == [10, 14] and got["config_key"].tolist() == ["a", "b"]


def test_postgresql_serves_two_writers_at_once(pg_url: str) -> None:
    from tests.conftest import _empty_pg

    db = _empty_pg(pg_url)
    RunStore(db).close()
    procs = [_backtest(db, 20, 800) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _statuses(db) == ["complete", "complete"] and _rows(db, "run_stocks") == 40


def test_duckdb_lock_waits_then_names_the_other_process(tmp_path: Path) -> None:
    db = str(tmp_path / "busy.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ok', flush=True); time.sleep(60)", db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "adaptrade", "runs", "list", "--db", db], capture_output=True, text=True,
                           env=_env(ADAPTRADE_STORE_LOCK_TIMEOUT="1"), timeout=120)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode == 2 and "Traceback" not in p.stderr + p.stdout
    line = " ".join(p.stderr.split())
    assert line.startswith("error:") and f"locked by process {holder.pid}" in line and "waited 1 s" in line
    assert waited >= 1.0
    p = subprocess.run([sys.executable, "-m", "adaptrade", "runs", "list", "--db", db], capture_output=True, text=True,
                       env=_env(), timeout=120)
    assert p.returncode == 0, p.stderr  # free again
