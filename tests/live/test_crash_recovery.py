"""SIGKILL the paper process at random points of a replay (after persisted events and between an
order's submission and its acknowledgement), restart it each time, and check the end equals an
uninterrupted run: positions, trades, parameters, orders and fills, with no client order id sent twice."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

from tests.live.helpers import journal_lines, replay_args, start_paper

KILLS = 20


def _run_to_end(tmp: Path, args: list[str]) -> None:
    proc = start_paper(tmp, args, delay=0.0)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()


def test_sigkill_at_random_points_then_restart_equals_uninterrupted(sample_dir: Path, tmp_path: Path) -> None:
    base = replay_args(sample_dir, "AAPL,NVDA", "2017-01-01", "2020-06-30")
    _run_to_end(tmp_path, [*base, "--session", "clean", "--out", "clean_out"])

    rng = random.Random(15)
    folder = tmp_path / "paper" / "crashy"
    args = [*base, "--session", "crashy", "--out", "crashy_out"]
    kills = at_submit = 0
    while True:
        seen = len(journal_lines(folder))
        # the per-event pause widens the crash windows; the run after the last kill goes at full speed
        proc = start_paper(tmp_path, args, delay=0.03 if kills < KILLS else 0.0)
        target_submit = kills < KILLS and kills % 2 == 0
        wait_for = rng.randint(1, 4)
        deadline = time.monotonic() + 300
        killed = False
        while proc.poll() is None and time.monotonic() < deadline:
            lines = journal_lines(folder)[seen:]
            if kills < KILLS and ((target_submit and lines and lines[-1]["event"] == "submit")
                                  or (not target_submit and len(lines) >= wait_for)):
                time.sleep(rng.uniform(0.0, 0.05 if target_submit else 0.03))  # before, inside or just after the pause
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
                kills += 1
                at_submit += target_submit
                break
            time.sleep(0.002)
        if not killed:
            out, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0, out.decode()
            break
    assert kills >= KILLS and at_submit >= KILLS // 2
    # some kills fell after the broker took an order and before the session recorded it: found by client id
    assert any(e["event"] == "reconciled" for e in journal_lines(folder))

    for name in ("trades.csv", "params.csv", "orders.csv", "fills.csv"):
        assert (tmp_path / "crashy_out" / name).read_text() == (tmp_path / "clean_out" / name).read_text(), name
    clean = json.loads((tmp_path / "paper" / "clean" / "broker.json").read_text())
    crashy = json.loads((folder / "broker.json").read_text())
    assert crashy["positions"] == clean["positions"] and crashy["cash"] == clean["cash"]
    sent = crashy["submissions"]
    assert len(sent) == len(set(sent)) == len(clean["submissions"]) > 5  # never twice, none missing
    state = json.loads((folder / "state.json").read_text())
    assert state["strategies"] == json.loads((tmp_path / "paper" / "clean" / "state.json").read_text())["strategies"]
