"""Backtest jobs, the bearer token, the rate limit and the live stream, through the real HTTP stack."""

from __future__ import annotations

import json
import time

import pytest
import requests
from websockets.sync.client import connect

from tests.api.conftest import TOKEN, LogCapture, Server, Store, auth, wait_job

pytestmark = pytest.mark.service
API = "/api/v1"
SMALL = {"stocks": 4, "bars": 300, "seed": 5, "executor": "serial"}


def post(server: Server, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(server.url + API + "/backtests", json=body, headers=headers or {}, timeout=10)


def ws_url(server: Server, last_id: str) -> str:
    return server.url.replace("http://", "ws://") + f"{API}/stream?last_id={last_id}"


def read_until(ws, pred, timeout: float = 60.0) -> list[dict]:
    """Messages until one satisfies `pred` (that one included)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(msg)
        if pred(msg):
            return seen
    raise AssertionError(f"not seen in {timeout} s; got {seen[-5:]}")


def test_starting_work_needs_the_token(server: Server) -> None:
    r = post(server, SMALL)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert post(server, SMALL, {"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
    assert post(server, SMALL, {"Authorization": f"Basic {TOKEN}"}).status_code == 401
    d = requests.delete(server.url + API + "/backtests/job-x", timeout=5)
    assert d.status_code == 401
    assert requests.delete(server.url + API + "/backtests/job-x", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 403
    assert requests.delete(server.url + API + "/backtests/job-x", headers=auth(), timeout=5).status_code == 404


@pytest.mark.parametrize("body", [{"stocks": 0}, {"bars": "long"}, {"strategy": "magic"}, {"source": "ftp"},
                                  {"unknown_flag": 1}, {"rsi_period": 40}, {"commission_bps": -1}, {"start": "2020/01/01"},
                                  {"mode": "portfolio", "fill": "close"}, {"buy": 80, "sell": 20}, [1, 2], {"workers": 0}])
def test_bad_job_bodies_are_422(server: Server, body: object) -> None:
    r = post(server, body, auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_a_job_runs_reports_progress_on_the_stream_and_stores_its_run(server: Server, store: Store) -> None:
    with connect(ws_url(server, "$")) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["kind"] == "hello"
        r = post(server, SMALL, auth())
        assert r.status_code == 202 and r.headers["location"].endswith(r.json()["id"])
        job_id = r.json()["id"]
        seen = read_until(ws, lambda m: m["kind"] == "job" and m["data"]["id"] == job_id and m["data"]["state"] in ("done", "failed"))
    mine = [m for m in seen if m["data"].get("job_id", m["data"].get("id")) == job_id]
    states = [m["data"]["state"] for m in mine if m["kind"] == "job"]
    assert states[0] == "queued" and "running" in states and states[-1] == "done", states
    last = [m["data"] for m in mine if m["kind"] == "job"][-1]
    assert last["done"] == last["total"] == 4 and last["progress"] == 1.0
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    job = wait_job(server.url, job_id)
    assert job["state"] == "done" and job["run_id"]
    run = requests.get(f"{server.url}{API}/runs/{job['run_id']}", timeout=5).json()
    assert run["stocks"] == 4 and run["settings"]["seed"] == 5
    if store.backend == "postgresql":  # the job's run is in the PostgreSQL database itself (read by a second connection)
        import psycopg

        with psycopg.connect(store.target) as con:
            n = con.execute("SELECT count(*) FROM run_stocks WHERE run_id = %s", [job["run_id"]]).fetchone()[0]
        assert n == 4
    # fills, parameter changes and equity went out while the job ran: batch by batch (2 stocks each), before its progress
    first_half = next(i for i, m in enumerate(mine) if m["kind"] == "job" and m["data"]["done"] == 2)
    during = mine[:first_half]
    trades = requests.get(f"{server.url}{API}/runs/{job['run_id']}/trades", params={"limit": 1000}, timeout=5).json()
    assert any(m["kind"] == "equity" and m["data"]["stocks"] == 2 and m["data"]["run_id"] is None for m in during)
    fills = [m["data"] for m in mine if m["kind"] == "fill"]
    assert trades["page"]["total"] and fills, "this seed trades: its fills must be on the stream"
    assert {f["run_id"] for f in fills} == {None} and {f["side"] for f in fills} <= {"buy", "sell"}
    stored = {(t["symbol"], t["entry_date"][:10], t["entry_price"]) for t in trades["rows"]}
    assert {(f["symbol"], f["date"], f["price"]) for f in fills if f["side"] == "buy"} <= stored
    assert any(m["kind"] in ("fill", "param") for m in during)
    assert [m["data"]["run_id"] for m in mine if m["kind"] == "equity"][-1] == job["run_id"]  # the final one names the run
    # a client that saw events up to the first half's progress and reconnects gets exactly the rest
    cut = mine[first_half]["id"]
    rest = [m["id"] for m in seen if tuple(map(int, m["id"].split("-"))) > tuple(map(int, cut.split("-")))]
    with connect(ws_url(server, cut)) as ws:
        assert json.loads(ws.recv(timeout=5))["kind"] == "hello"
        again = [json.loads(ws.recv(timeout=5)) for _ in rest]
    assert [m["id"] for m in again] == rest and any(m["kind"] == "fill" for m in again)
    metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert 'adaptrade_jobs_finished_total{state="done"}' in metrics and f'run="{job["run_id"]}"' in metrics


def test_a_portfolio_job_stores_its_account_and_orders(server: Server, store: Store) -> None:
    with connect(ws_url(server, "$")) as ws:
        assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
        r = post(server, {**SMALL, "bars": 1260, "mode": "portfolio"}, auth())
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        seen = read_until(ws, lambda m: m["kind"] == "job" and m["data"]["id"] == job_id and m["data"]["state"] in ("done", "failed"),
                          timeout=180)
    job = wait_job(server.url, job_id, timeout=30)
    assert job["state"] == "done", job
    progress = [m["data"]["progress"] for m in seen if m["kind"] == "job" and m["data"]["id"] == job_id and m["data"]["state"] == "running"]
    assert any(0 < p < 1 for p in progress) and progress == sorted(progress), progress  # progress while the account steps
    run = requests.get(f"{server.url}{API}/runs/{job['run_id']}", timeout=5).json()
    assert run["mode"] == "portfolio" and run["stocks"] == 4
    assert run["counts"]["account"] == 1260 and run["counts"]["orders"] > 0 and run["counts"]["fills"] > 0
    assert run["summary"]["portfolio"]["final_equity"] > 0
    fills = requests.get(f"{server.url}{API}/runs/{job['run_id']}/fills", params={"limit": 5}, timeout=5).json()
    assert fills["rows"] and {"symbol", "side", "price", "quantity"} <= set(fills["columns"])
    a = requests.get(f"{server.url}{API}/runs/{job['run_id']}/analytics/drawdowns", timeout=30).json()
    assert a["basis"] == "portfolio_account" and a["underwater"]["total"] == 1260
    assert job["run_id"] in [x["id"] for x in requests.get(f"{server.url}{API}/runs", params={"mode": "portfolio", "limit": 1000},
                                                          timeout=5).json()["runs"]]
    metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert f'adaptrade_max_drawdown_ratio{{account="portfolio",run="{job["run_id"]}"}}' in metrics
    # live while the account stepped: fills and the account at each checkpoint, before the job's done event, each once
    mine = [m for m in seen if m["data"].get("job_id", m["data"].get("id")) == job_id]
    done_at = next(i for i, m in enumerate(mine) if m["kind"] == "job" and m["data"]["state"] == "done")
    live = [m["data"] for m in mine[:done_at] if m["kind"] == "fill"]
    assert live and all(f["run_id"] is None for f in live)  # none from the end of the job (it publishes before `done`)
    keys = [(f["order_id"], f["symbol"], f["side"], f["date"], f["price"], f["shares"]) for f in live]
    assert len(keys) == len(set(keys))  # nothing published twice
    stored = requests.get(f"{server.url}{API}/runs/{job['run_id']}/fills", params={"limit": 1000}, timeout=5).json()["rows"]
    # a few fills per checkpoint here, under the cap of CHECKPOINT_FILLS: every stored fill went out, in order
    assert keys == [(r["order_id"], r["symbol"], r["side"], r["timestamp"][:10], r["price"], r["quantity"]) for r in stored]
    account = [m["data"] for m in mine[:done_at] if m["kind"] == "equity" and m["data"].get("account") == "portfolio"]
    assert len(account) >= 10 and [a["date"] for a in account] == sorted({a["date"] for a in account})
    assert account[-1]["bars"] == 1260 and account[-1]["equity"] == pytest.approx(run["summary"]["portfolio"]["final_equity"])


def test_an_account_past_its_limits_raises_alerts(server: Server, store: Store) -> None:
    import pandas as pd

    from adaptrade.api.alerts import account_alerts

    run_id = f"acct-{store.backend}-{time.time_ns()}"
    limit = server.settings.alert_drawdown_limit
    account = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "equity": [100.0, 70.0], "drawdown": [0.0, -(limit + 0.1)],
                            "breaker": [False, True]})
    raised = account_alerts(server.service, run_id, account)
    assert [a["name"] for a in raised] == ["AdaptradeDrawdownPastLimit", "AdaptradeCircuitBreakerTripped"]
    listed = requests.get(f"{server.url}{API}/alerts", params={"source": "service", "limit": 1000}, timeout=5).json()["alerts"]
    mine = {a["name"]: a for a in listed if a["run_id"] == run_id}
    assert set(mine) == {"AdaptradeDrawdownPastLimit", "AdaptradeCircuitBreakerTripped"} and mine["AdaptradeDrawdownPastLimit"]["state"] == "firing"
    assert account_alerts(server.service, run_id, account.iloc[:1]) == []  # at a peak, breaker off: nothing


def test_stream_resumes_after_the_last_id_seen(server: Server) -> None:
    bus = server.service.bus
    first = bus.publish("alert", {"name": "resume-test", "n": 1})
    missed = [bus.publish("alert", {"name": "resume-test", "n": n}) for n in (2, 3)]
    with connect(ws_url(server, first)) as ws:
        assert json.loads(ws.recv(timeout=5))["kind"] == "hello"
        got = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
    assert [g["id"] for g in got] == missed and [g["data"]["n"] for g in got] == [2, 3]
    with connect(ws_url(server, "not-an-id")) as ws:
        assert json.loads(ws.recv(timeout=5))["kind"] == "error"


def test_cancel_a_running_job(server: Server) -> None:
    r = post(server, {"stocks": 200, "bars": 5000, "seed": 1, "executor": "serial"}, auth())
    job_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while requests.get(f"{server.url}{API}/backtests/{job_id}", timeout=5).json()["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    assert requests.get(server.url + API + "/health", timeout=2).ok  # the API answers while the job runs
    c = requests.delete(f"{server.url}{API}/backtests/{job_id}", headers=auth(), timeout=5)
    assert c.status_code == 200 and c.json()["state"] == "cancelled"
    job = server.service.jobs.get(job_id)
    while job.process is not None and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert job.process is None and job.run_id is None
    assert requests.get(f"{server.url}{API}/backtests/{job_id}", timeout=5).json()["state"] == "cancelled"


def test_job_starts_are_rate_limited(server: Server) -> None:
    svc = server.service
    while svc.job_starts.allow("127.0.0.1"):  # use up this minute's allowance without starting work
        pass
    r = post(server, SMALL, auth())
    assert r.status_code == 429 and r.headers["content-type"].startswith("application/problem+json")


def test_the_token_never_reaches_the_logs(server: Server, logs: LogCapture) -> None:
    post(server, SMALL, {"Authorization": f"Bearer {TOKEN}x"})
    assert logs.lines, "no log lines captured"
    assert any("/api/v1/backtests" in line for line in logs.lines)
    assert not [line for line in logs.lines if TOKEN in line]
    assert TOKEN not in repr(server.settings)


def test_refuses_non_loopback_without_a_token() -> None:
    from adaptrade.api.security import check_bind, is_loopback
    from adaptrade.errors import ConfigError
    from adaptrade.settings import Settings

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError, match="non-loopback"):
        check_bind("0.0.0.0", Settings())
    check_bind("127.0.0.1", Settings())
    with pytest.raises(ConfigError, match="at least 16"):
        check_bind("0.0.0.0", Settings(api_token="short"))
    check_bind("0.0.0.0", Settings(api_token="x" * 32))


def test_read_protected_service_needs_the_token_for_reads(store, sample_dir, redis_prefix) -> None:  # noqa: ANN001
    from pydantic import SecretStr

    from adaptrade.settings import Settings
    from tests.api.conftest import start_server

    settings = Settings(**store.db(), data_dir=sample_dir, redis_prefix=redis_prefix, api_token=SecretStr(TOKEN),
                        api_read_protected=True, executor="serial")
    srv = start_server(settings)
    try:
        assert requests.get(srv.url + API + "/runs", timeout=5).status_code == 401
        assert requests.get(srv.url + API + "/runs", headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 403
        assert requests.get(srv.url + API + "/runs", headers=auth(), timeout=5).status_code == 200
        assert requests.get(srv.url + API + "/backtests/job-x", timeout=5).status_code == 401
        assert requests.get(srv.url + API + "/health", timeout=5).status_code == 200  # liveness stays open
        with connect(ws_url(srv, "$")) as ws:
            ws.send(json.dumps({"token": "wrong"}))
            assert json.loads(ws.recv(timeout=5))["kind"] == "error"
        with connect(ws_url(srv, "$")) as ws:
            ws.send(json.dumps({"token": TOKEN}))
            assert json.loads(ws.recv(timeout=5))["kind"] == "hello"
    finally:
        srv.stop()


def test_serve_refuses_a_public_address_without_a_token(tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    db = tmp_path / "x.duckdb"
    p = subprocess.run([sys.executable, "-m", "adaptrade", "serve", "--host", "0.0.0.0", "--db", str(db)], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "non-loopback address 0.0.0.0 without ADAPTRADE_API_TOKEN" in p.stderr and not db.exists()
    env["ADAPTRADE_API_TOKEN"] = "tiny-secret"
    p = subprocess.run([sys.executable, "-m", "adaptrade", "serve", "--host", "0.0.0.0", "--db", str(db)], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 2 and "at least 16 characters" in p.stderr and "tiny-secret" not in p.stderr + p.stdout
