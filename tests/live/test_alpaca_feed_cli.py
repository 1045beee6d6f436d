"""`adaptrade paper run --broker sim --feed alpaca` end to end on loopback: the stand-in serves the sample's
bars as Alpaca's historical bars (the catch-up) and then streams the last sessions on its market-data
websocket, one session at a time with its clock just after that session's close; the socket is dropped
once and alpaca-py reconnects. The session's trades and parameter changes equal `adaptrade backtest`'s
over the same period, orders were decided on streamed bars, the session's /metrics shows the heartbeat,
feed lag and bars, and every fill and parameter change is on the real Redis stream."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.cli import app
from adaptrade.live.loop import current_state
from tests.live.alpaca_standin.fixtures import after_close, sample_bars, serve_history, session_messages, wait_for
from tests.live.alpaca_standin.market import StandinMarket
from tests.live.alpaca_standin.server import StandinServer
from tests.live.helpers import paper_env, replay_args
from tests.monitoring.binaries import free_port

SYMBOLS, START = "AAPL,MSFT,NVDA", "2018-01-01"
STREAMED = 8  # sessions at the end of the period that arrive on the websocket


@pytest.fixture()
def redis_events() -> Iterator[tuple[str, object]]:
    import redis

    from tests.api.conftest import REDIS_URL, ci

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        (pytest.fail if ci() else pytest.skip)(f"Redis not reachable at {REDIS_URL}: {exc}")
    prefix = f"adaptrade-test-{uuid.uuid4().hex[:12]}"
    yield prefix, client
    for k in client.scan_iter(f"{prefix}:*"):
        client.delete(k)


def _metric(text: str, name: str) -> float:
    [line] = [x for x in text.splitlines() if x.startswith(name + "{") and 'session="af"' in x]
    return float(line.rsplit(" ", 1)[1])


def test_paper_run_on_the_alpaca_feed_equals_the_backtest(sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          redis_events: tuple[str, object]) -> None:
    prefix, client = redis_events
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADAPTRADE_MIN_TRADES_TO_ADAPT", "2")
    full, _ = sample_bars(sample_dir, SYMBOLS, START, "2020-12-31")
    # the period ends two sessions after the year's last entry or exit, so the streamed sessions decide an order
    bt_full = tmp_path / "bt_full"
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *replay_args(sample_dir, SYMBOLS, START, "2020-12-31"),
                                 "--out", str(bt_full), "--no-store"])
    assert r.exit_code == 0, r.output
    tr = pd.read_csv(bt_full / "trades.csv")
    last = max(d for d in pd.concat([tr["entry_date"], tr["exit_date"]]).dropna().astype(str) if d < "2020-12-20")
    dates = [str(d) for d in full.dates]
    end = dates[dates.index(last) + 2]
    streamed = dates[dates.index(end) - STREAMED + 1: dates.index(end) + 1]
    args = replay_args(sample_dir, SYMBOLS, START, end)
    r = CliRunner().invoke(app, ["backtest", "--source", "archive", *args, "--out", "bt", "--no-store"])
    assert r.exit_code == 0, r.output

    server = StandinServer(StandinMarket()).start()
    proc = None
    try:
        serve_history(server.market, full)
        server.market.clock_now = after_close(dates[dates.index(streamed[0]) - 1])
        port = free_port()
        env = {**paper_env(tmp_path, 0.0), **server.env(), "ADAPTRADE_MIN_TRADES_TO_ADAPT": "2",
               "ADAPTRADE_ALPACA_BAR_SETTLE_SECONDS": "0", "ADAPTRADE_PAPER_METRICS_PORT": str(port),
               "ADAPTRADE_PAPER_PUBLISH": "true", "ADAPTRADE_REDIS_PREFIX": prefix}
        del env["ADAPTRADE_ALPACA_REPLAY_CLOCK_URL"]
        proc = subprocess.Popen([sys.executable, "-m", "adaptrade", "paper", "run", "--broker", "sim", "--feed", "alpaca",
                                 "--symbols", SYMBOLS, "--start", START, "--end", end, "--buy", "35", "--sell", "65",
                                 "--session", "af", "--out", "pp"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        folder = tmp_path / "paper" / "af"  # its cursor is journaled: read through current_state
        first = dates.index(streamed[0])
        wait_for(lambda: proc.poll() is None and server.data_queues and (current_state(folder) or {}).get("cursor") == first,
                 timeout=60, what="the catch-up done and the data stream subscribed")
        for k, day in enumerate(streamed):
            if k == 3:  # the server drops the socket; alpaca-py reconnects by itself
                assert server.drop_data_streams() == 1
                wait_for(lambda: server.data_connections == 2 and server.data_queues, what="the reconnect")
            server.market.clock_now = after_close(day)
            assert server.push_daily_bars(session_messages(full, day)) == 1
            wait_for(lambda: (current_state(folder) or {}).get("cursor") == first + k + 1 or proc.poll() is not None,
                     what=f"session {day} through the loop")
            if k == 1:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                assert _metric(text, "adaptrade_paper_feed_lag_seconds") == 60.0
                assert _metric(text, "adaptrade_paper_bars_received_total") == float(full.valid[:, : first + 2].sum())
                assert _metric(text, "adaptrade_paper_heartbeat_timestamp_seconds") > 0
        out = proc.communicate(timeout=60)[0].decode()
        assert proc.returncode == 0, out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        server.stop()
    for name in ("trades.csv", "params.csv"):
        assert (tmp_path / "pp" / name).read_text() == (tmp_path / "bt" / name).read_text(), name
    orders = pd.read_csv(tmp_path / "pp" / "orders.csv")
    assert (orders["created"].astype(str) >= streamed[0]).sum() >= 1  # decided on streamed bars
    assert "STANDIN-SECRET" not in out
    events = [(f["kind"], json.loads(f["data"])) for _, f in client.xrange(f"{prefix}:events")]  # type: ignore[attr-defined]
    fills = [d for k, d in events if k == "fill"]
    params = [d for k, d in events if k == "param"]
    assert len(fills) == len(pd.read_csv(tmp_path / "pp" / "fills.csv")) >= 2
    assert len(params) == len(pd.read_csv(tmp_path / "pp" / "params.csv")) >= 1
    assert all(d["source"] == "paper" and d["session"] == "af" for _, d in events)
