"""`adaptrade paper` on real data: parity with `adaptrade backtest` file to file, the lease, the kill switch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptrade.cli import app
from adaptrade.live.state import Lease
from tests.live.helpers import journal_lines, replay_args, start_paper


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for k in ("ADAPTRADE_PAPER_DIR", "ADAPTRADE_PAPER_EVENT_DELAY"):
        monkeypatch.delenv(k, raising=False)
    return tmp_path


def test_replay_through_sim_broker_equals_backtest(sample_dir: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_MIN_TRADES_TO_ADAPT", "2")  # both read it from settings: adapts within three years
    args = replay_args(sample_dir, "AAPL,MSFT,NVDA", "2018-01-01", "2020-12-31")
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--out", "bt", "--no-store"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["paper", "run", "--broker", "sim", "--feed", "replay", *args, "--out", "pp",
                                 "--session", "parity"])
    assert r.exit_code == 0, r.output
    for name in ("trades.csv", "params.csv"):
        assert (in_tmp / "pp" / name).read_text() == (in_tmp / "bt" / name).read_text(), name
    trades = (in_tmp / "pp" / "trades.csv").read_text().splitlines()
    params = (in_tmp / "pp" / "params.csv").read_text().splitlines()
    assert len(trades) > 10 and len(params) > 5  # a period that trades and adapts
    fills = (in_tmp / "pp" / "fills.csv").read_text().splitlines()
    orders = (in_tmp / "pp" / "orders.csv").read_text().splitlines()
    assert fills[0] == "order_id,symbol,side,quantity,price,timestamp,commission,impact_bps"
    # every closed trade is two fills, an open one is one; the last session's signal may leave an order open
    closed = sum(1 for t in trades[1:] if t.split(",")[3])
    assert len(fills) - 1 == 2 * closed + (len(trades) - 1 - closed)
    assert len(orders) - 1 >= len(fills) - 1


def test_second_run_on_a_held_session_refuses(sample_dir: Path, in_tmp: Path) -> None:
    folder = in_tmp / ".adaptrade_paper" / "busy"
    folder.mkdir(parents=True)
    lease = Lease(folder)
    lease.acquire("busy")
    try:
        r = CliRunner().invoke(app, ["paper", "run", *replay_args(sample_dir, "AAPL", "2020-01-01", "2020-03-31"),
                                     "--session", "busy"])
        assert r.exit_code == 2
        assert "already running" in r.output and "Traceback" not in r.output
        assert not (folder / "state.json").exists() and not (folder / "broker.json").exists()
    finally:
        lease.release()
    r = CliRunner().invoke(app, ["paper", "run", *replay_args(sample_dir, "AAPL", "2020-01-01", "2020-03-31"), "--session", "busy"])
    assert r.exit_code == 0, r.output  # free once released


def test_refusals_say_why(sample_dir: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("ADAPTRADE_ALPACA_KEY_ID", "ADAPTRADE_ALPACA_SECRET_KEY", "ADAPTRADE_ALPACA_REPLAY_CLOCK_URL"):
        monkeypatch.delenv(k, raising=False)
    for flag, says in ((["--broker", "alpaca"], "use --feed alpaca"), (["--feed", "alpaca"], "--feed alpaca needs --start"),
                       (["--feed", "alpaca", "--start", "2024-01-02"], "needs ADAPTRADE_ALPACA_KEY_ID"),
                       (["--feed", "ib"], "--feed ib is not a feed"),
                       (["--feed", "alpaca", "--mode", "portfolio"], "runs only with --feed replay")):
        r = CliRunner().invoke(app, ["paper", "run", *flag, "--symbols", "AAPL"])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, (flag, r.output)
    r = CliRunner().invoke(app, ["paper", "run", "--mode", "sideways", "--symbols", "AAPL"])  # portfolio is built
    assert r.exit_code == 2 and "unknown mode 'sideways'" in r.output and "Traceback" not in r.output


def test_kill_switch_from_the_cli(sample_dir: Path, in_tmp: Path) -> None:
    args = [*replay_args(sample_dir, "AAPL,MSFT", "2018-01-01", "2019-12-31"), "--session", "k"]
    proc = start_paper(in_tmp, args, delay=1.0)
    folder = in_tmp / "paper" / "k"
    try:
        deadline = time.monotonic() + 300
        while not any(e["event"] == "ack" for e in journal_lines(folder)):  # an order sits at the broker
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.05)
        r = CliRunner().invoke(app, ["paper", "stop", "--session", "k", "--paper-dir", str(in_tmp / "paper")])
        assert r.exit_code == 0, r.output
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "session killed" in proc.stdout.read().decode()  # type: ignore[union-attr]
    book = json.loads((folder / "broker.json").read_text())
    acked = [e["client_order_id"] for e in journal_lines(folder) if e["event"] == "ack"]
    assert book["orders"][acked[-1]]["status"] == "cancelled"
    assert book["submissions"] == acked  # nothing sent after the switch
    assert not [o for o in book["orders"].values() if o["status"] == "new"]
    r = CliRunner().invoke(app, ["paper", "status", "--session", "k", "--paper-dir", str(in_tmp / "paper")])
    assert r.exit_code == 0 and "kill switch ON" in r.output and "open orders: none" in r.output
    r = CliRunner().invoke(app, ["paper", "run", *args, "--paper-dir", str(in_tmp / "paper")])
    assert r.exit_code == 2 and "kill switch" in r.output


def test_from_run_takes_the_runs_recommended_stocks(sample_dir: Path, in_tmp: Path) -> None:
    from adaptrade.storage.runs import RunStore

    args = replay_args(sample_dir, "AAPL,MSFT", "2019-01-01", "2019-12-31")
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--db", "runs.duckdb"])
    assert r.exit_code == 0, r.output
    with RunStore(in_tmp / "runs.duckdb") as rs:
        run_id = str(rs.list_runs()["id"].iloc[0])
        recommended = rs.load_run(run_id)["stocks"]["recommended"].astype(bool).sum()
    assert recommended == 0  # one year of two stocks: nothing passes the quality filter
    r = CliRunner().invoke(app, ["paper", "run", "--from-run", run_id, "--data-dir", str(sample_dir),
                                 "--session", "fr"], env={"ADAPTRADE_DB_PATH": str(in_tmp / "runs.duckdb")})
    assert r.exit_code == 2 and f"run {run_id} recommends no stock" in r.output
    r = CliRunner().invoke(app, ["paper", "run", "--from-run", run_id, "--symbols", "AAPL"])
    assert r.exit_code == 2 and "exactly one of --symbols and --from-run" in r.output
    loose = {"ADAPTRADE_MIN_SHARPE": "-100", "ADAPTRADE_MIN_WIN_RATE": "0", "ADAPTRADE_MIN_TRADES_RANK": "0"}
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--db", "runs.duckdb"], env=loose)
    assert r.exit_code == 0, r.output
    with RunStore(in_tmp / "runs.duckdb") as rs:
        runs = rs.list_runs()
        loose_id = str(runs.loc[runs["id"] != run_id, "id"].iloc[0])
        chosen = rs.load_run(loose_id)["stocks"].query("recommended")["symbol"].astype(str).tolist()
    assert chosen
    r = CliRunner().invoke(app, ["paper", "run", "--from-run", loose_id, "--data-dir", str(sample_dir), "--start", "2019-01-01",
                                 "--end", "2019-03-31", "--session", "fr2"], env={"ADAPTRADE_DB_PATH": str(in_tmp / "runs.duckdb")})
    assert r.exit_code == 0, r.output
    state = json.loads((in_tmp / ".adaptrade_paper" / "fr2" / "state.json").read_text())
    assert state["meta"]["symbols"] == chosen and state["status"] == "done"
