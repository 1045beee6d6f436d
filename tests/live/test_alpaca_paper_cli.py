"""`adaptrade paper run --broker alpaca --feed replay` against the loopback stand-in: the session's
trades and parameter changes equal the backtest's (the stand-in fills with the execution layer's
model), a SIGKILL mid-run and a restart post no client order id twice, and `paper stop` cancels there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptrade.cli import app
from tests.live.alpaca_standin.fixtures import wait_for
from tests.live.alpaca_standin.market import StandinMarket
from tests.live.alpaca_standin.server import StandinServer
from tests.live.helpers import journal_lines, paper_env, replay_args

SYMBOLS, START, END = "AAPL,MSFT", "2020-01-01", "2020-12-31"


def _market(sample_dir: Path) -> StandinMarket:
    """The stand-in's exchange: the same adjusted sample bars the replay plays, the default costs."""
    from adaptrade.commands.backtest import _request
    from adaptrade.parallel.runner import load_data
    from adaptrade.settings import Settings

    s = Settings()
    req = _request("archive", sample_dir, SYMBOLS, None, None, 0, 0, START, END, "adaptive", 14, 35, 65, None,
                   None, None, False, s)
    bars = load_data(req, s).bars
    m = StandinMarket(cash=req.strategy.initial_cash * bars.n_symbols, commission_bps=req.strategy.commission_bps,
                      slippage_bps=req.strategy.slippage_bps, symbols=bars.symbols)
    for j, d in enumerate(bars.dates):
        m.sessions[str(d)] = {sym: (float(bars.open[i, j]), float(bars.close[i, j]), bool(bars.valid[i, j]))
                              for i, sym in enumerate(bars.symbols)}
    return m


@pytest.fixture()
def standin(sample_dir: Path) -> Iterator[StandinServer]:
    s = StandinServer(_market(sample_dir)).start()
    yield s
    s.stop()


def _run(tmp: Path, server: StandinServer, args: list[str], delay: float = 0.0) -> subprocess.Popen[bytes]:
    env = {**paper_env(tmp, delay), **server.env(), "ADAPTRADE_MIN_TRADES_TO_ADAPT": "2"}
    return subprocess.Popen([sys.executable, "-m", "adaptrade", "paper", "run", *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_alpaca_replay_session_equals_backtest_and_survives_a_kill(sample_dir: Path, tmp_path: Path,
                                                                   standin: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADAPTRADE_MIN_TRADES_TO_ADAPT", "2")
    args = replay_args(sample_dir, SYMBOLS, START, END)
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--out", "bt", "--no-store"])
    assert r.exit_code == 0, r.output
    pa = [*args, "--broker", "alpaca", "--feed", "replay", "--session", "alp", "--out", "pp"]
    proc = _run(tmp_path, standin, pa, delay=0.02)  # killed once it has sent a few orders
    folder = tmp_path / "paper" / "alp"
    wait_for(lambda: proc.poll() is None and sum(e["event"] == "submit" for e in journal_lines(folder)) >= 2,
             timeout=120, what="orders sent")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc = _run(tmp_path, standin, pa)
    out = proc.communicate(timeout=240)[0].decode()
    assert proc.returncode == 0, out
    assert "STANDIN-SECRET" not in out + (folder / "events.jsonl").read_text()
    for name in ("trades.csv", "params.csv"):
        assert (tmp_path / "pp" / name).read_text() == (tmp_path / "bt" / name).read_text(), name
    m = standin.market
    posted = m.posted_client_ids
    assert len(posted) == len(set(posted)) == len(m.orders) >= 4  # every order once, none twice
    assert len((tmp_path / "pp" / "trades.csv").read_text().splitlines()) >= 3  # the period trades
    orders = (tmp_path / "pp" / "orders.csv").read_text().splitlines()
    assert len(orders) == len(m.orders) + 1 and all(",filled," in o for o in orders[1:])
    r = CliRunner().invoke(app, ["paper", "status", "--session", "alp", "--paper-dir", str(tmp_path / "paper")])
    assert r.exit_code == 0 and "status done" in r.output


def test_alpaca_broker_without_the_replay_clock_refuses_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADAPTRADE_ALPACA_REPLAY_CLOCK_URL", raising=False)
    r = CliRunner().invoke(app, ["paper", "run", "--broker", "alpaca", "--feed", "replay", "--symbols", "AAPL"])
    assert r.exit_code == 2 and "stand-in's replay clock" in r.output and "Traceback" not in r.output


def test_paper_stop_cancels_open_orders_at_alpaca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adaptrade.live.alpaca_broker import AlpacaBroker
    from adaptrade.live.broker import OrderRequest
    from adaptrade.live.state import atomic_write_json
    from tests.live.alpaca_standin.fixtures import standin_settings

    server = StandinServer(StandinMarket(cash=10_000.0)).start()
    try:
        folder = tmp_path / "paper" / "s"
        folder.mkdir(parents=True)
        b = AlpacaBroker(folder, standin_settings(server), stream=False)
        b.submit(OrderRequest("AT-AAPL-20240102-000001", "AAPL", 1, notional=500.0, created="2024-01-02"))
        atomic_write_json(folder / "state.json", {"meta": {"symbols": ["AAPL"], "start": "2024-01-02", "end": "2024-01-05"},
                                                  "cursor": 1, "status": "running"})
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        pd = ["--session", "s", "--paper-dir", str(tmp_path / "paper")]
        r = CliRunner().invoke(app, ["paper", "status", *pd])
        assert r.exit_code == 0 and "open orders: AT-AAPL-20240102-000001" in r.output, r.output
        r = CliRunner().invoke(app, ["paper", "stop", *pd])
        assert r.exit_code == 0 and "1 open orders cancelled" in r.output, r.output
        assert [o["status"] for o in server.market.orders.values()] == ["canceled"]
        assert (folder / "kill").exists() and "STANDIN-SECRET" not in r.output
    finally:
        server.stop()
