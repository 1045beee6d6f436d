"""`adaptrade paper run --mode portfolio` on real data: file-to-file parity with `backtest --mode portfolio`,
and SIGKILLs at a few points of a replay, restarted, ending equal to the uninterrupted run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptrade.cli import app
from tests.live.helpers import journal_lines, paper_env, replay_args

FILES = ("trades.csv", "params.csv", "orders.csv", "fills.csv")
SYMBOLS, START, END = "AAPL,MSFT,NVDA,AMZN", "2018-01-01", "2020-12-31"


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for k in ("ADAPTRADE_PAPER_DIR", "ADAPTRADE_PAPER_EVENT_DELAY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ADAPTRADE_MIN_TRADES_TO_ADAPT", "2")  # adapts and sizes within three years
    monkeypatch.setenv("ADAPTRADE_KELLY_MIN_TRADES", "2")
    return tmp_path


def start_paper(tmp: Path, args: list[str], delay: float) -> subprocess.Popen[bytes]:
    """`paper run` in a subprocess with this file's learning settings (the shared helper clears ADAPTRADE_*)."""
    env = {**paper_env(tmp, delay), "ADAPTRADE_MIN_TRADES_TO_ADAPT": "2", "ADAPTRADE_KELLY_MIN_TRADES": "2"}
    return subprocess.Popen([sys.executable, "-m", "adaptrade", "paper", "run", *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_portfolio_replay_equals_portfolio_backtest(sample_dir: Path, in_tmp: Path) -> None:
    args = replay_args(sample_dir, SYMBOLS, START, END)
    r = CliRunner().invoke(app, ["backtest", "--mode", "portfolio", "--source", "archive", *args, "--out", "bt", "--no-store"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["paper", "run", "--mode", "portfolio", "--broker", "sim", "--feed", "replay", *args,
                                 "--out", "pp", "--session", "pf"])
    assert r.exit_code == 0, r.output
    for name in FILES:
        assert (in_tmp / "pp" / name).read_text() == (in_tmp / "bt" / name).read_text(), name
    orders = (in_tmp / "pp" / "orders.csv").read_text().splitlines()
    params = (in_tmp / "pp" / "params.csv").read_text().splitlines()
    fills = (in_tmp / "pp" / "fills.csv").read_text().splitlines()
    assert len(orders) > 5 and len(fills) > 5 and len(params) > 3  # a period that trades, fills and adapts
    r = CliRunner().invoke(app, ["paper", "status", "--session", "pf"])
    assert r.exit_code == 0 and "status done" in r.output, r.output


def test_portfolio_sigkill_then_restart_equals_uninterrupted(sample_dir: Path, in_tmp: Path) -> None:
    base = ["--mode", "portfolio", *replay_args(sample_dir, SYMBOLS, START, END)]
    clean = start_paper(in_tmp, [*base, "--session", "clean", "--out", "clean_out"], delay=0.0)
    out, _ = clean.communicate(timeout=600)
    assert clean.returncode == 0, out.decode()
    rng = random.Random(15)
    folder = in_tmp / "paper" / "crashy"
    args = [*base, "--session", "crashy", "--out", "crashy_out"]
    kills = 0
    while True:
        seen = len(journal_lines(folder))
        proc = start_paper(in_tmp, args, delay=0.01 if kills < 4 else 0.0)  # the run after the last kill: full speed
        wait_for = rng.randint(2, 120)
        deadline, was_killed = time.monotonic() + 300, False
        while proc.poll() is None and time.monotonic() < deadline:
            if kills < 4 and len(journal_lines(folder)) - seen >= wait_for:
                time.sleep(rng.uniform(0.0, 0.01))  # inside the pause after a persisted session, or during the next
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills, was_killed = kills + 1, True
                break
            time.sleep(0.002)
        if not was_killed:
            out, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, out.decode()
            break
    assert kills == 4
    for name in FILES:
        assert (in_tmp / "crashy_out" / name).read_text() == (in_tmp / "clean_out" / name).read_text(), name
    assert len((in_tmp / "clean_out" / "orders.csv").read_text().splitlines()) > 2


def test_portfolio_kill_switch_from_the_cli(sample_dir: Path, in_tmp: Path) -> None:
    import json

    args = ["--mode", "portfolio", *replay_args(sample_dir, SYMBOLS, START, END), "--session", "k"]
    proc = start_paper(in_tmp, args, delay=0.05)
    folder = in_tmp / "paper" / "k"
    deadline = time.monotonic() + 120
    while len(journal_lines(folder)) < 40 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    env_dir = ["--paper-dir", str(in_tmp / "paper")]
    r = CliRunner().invoke(app, ["paper", "stop", "--session", "k", *env_dir])
    assert r.exit_code == 0, r.output
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "session killed" in out.decode(), out.decode()
    state = json.loads((folder / "state.json").read_text())
    book = json.loads((folder / "broker.json").read_text())
    assert state["status"] == "killed" and state["cursor"] < 700  # stopped well before the replay's end
    assert all(o["status"] not in ("new", "partially_filled") for o in book["orders"].values())
    assert journal_lines(folder)[-1]["event"] == "killed"
    r = CliRunner().invoke(app, ["paper", "run", *args, *env_dir])
    assert r.exit_code == 2 and "kill switch" in r.output
