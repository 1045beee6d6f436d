"""Backtest jobs on a Dask cluster (setting `scheduler`): a real LocalCluster of one single-threaded worker
process, the service under uvicorn. A job runs as a task on the worker, reports progress and fills on the
stream and its run is stored; a cancelled job stores nothing and the next job runs; a job's task stops at
the batch after its cancel Event is set; a job that fails on the worker is reported failed with its error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from tests.api.conftest import REDIS_URL, TOKEN, Server, Store, auth, start_server, wait_job
from tests.api.test_jobs import post, read_until, ws_url

pytestmark = [pytest.mark.service, pytest.mark.slow]  # a ~5 s cluster start, once for the module
DUCKDB_ONLY = pytest.mark.parametrize("store", ["duckdb"], indirect=True)  # where the run is stored is not what changes here
API = "/api/v1"
SMALL = {"stocks": 4, "bars": 300, "seed": 5, "executor": "serial"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    c = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40)
    yield c
    c.close()


@pytest.fixture(scope="module")
def dask_server(cluster: Any, store: Store, redis_prefix: str, sample_dir: Path) -> Iterator[Server]:
    from pydantic import SecretStr

    from adaptrade.settings import Settings

    settings = Settings(**store.db(), data_dir=sample_dir, redis_url=REDIS_URL, redis_prefix=redis_prefix,
                        api_token=SecretStr(TOKEN), api_job_starts_per_minute=30, scheduler=cluster.scheduler_address,
                        api_job_workers=2, batch_size=2)
    srv = start_server(settings)
    yield srv
    srv.stop()


def ran_on(cluster: Any, job_id: str) -> bool:
    """Whether the cluster's scheduler ran task `job_id` to a result."""
    return any("memory" in map(str, t) for t in cluster.scheduler.story(job_id))


@DUCKDB_ONLY
def test_a_job_runs_on_the_cluster_reports_progress_and_is_stored(dask_server: Server, cluster: Any) -> None:
    with connect(ws_url(dask_server, "$")) as ws:
        assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
        r = post(dask_server, SMALL, auth())
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        seen = read_until(ws, lambda m: m["kind"] == "job" and m["data"]["id"] == job_id and m["data"]["state"] in ("done", "failed"),
                          timeout=120)
    job = wait_job(dask_server.url, job_id)
    assert job["state"] == "done", job
    assert ran_on(cluster, job_id)
    mine = [m for m in seen if m["data"].get("job_id", m["data"].get("id")) == job_id]
    states = [m["data"]["state"] for m in mine if m["kind"] == "job"]
    assert states[0] == "queued" and "running" in states and states[-1] == "done", states
    assert [m["data"]["done"] for m in mine if m["kind"] == "job" and m["data"]["state"] == "running"][-2:] == [2, 4]
    half = next(i for i, m in enumerate(mine) if m["kind"] == "job" and m["data"]["done"] == 2)
    assert any(m["kind"] == "equity" and m["data"]["stocks"] == 2 for m in mine[:half])  # batch events before their progress
    fills = [m["data"] for m in mine if m["kind"] == "fill"]
    run = requests.get(f"{dask_server.url}{API}/runs/{job['run_id']}", timeout=5).json()
    assert run["stocks"] == 4 and run["settings"]["seed"] == 5 and run["settings"]["executor"] == "serial"
    trades = requests.get(f"{dask_server.url}{API}/runs/{job['run_id']}/trades", params={"limit": 1000}, timeout=5).json()
    stored = {(t["symbol"], t["entry_date"][:10], t["entry_price"]) for t in trades["rows"]}
    assert fills and {(f["symbol"], f["date"], f["price"]) for f in fills if f["side"] == "buy"} <= stored


@DUCKDB_ONLY
def test_a_cancelled_job_stores_nothing_and_the_next_one_runs(dask_server: Server, cluster: Any) -> None:
    import time

    r = post(dask_server, {"stocks": 400, "bars": 5000, "seed": 1, "executor": "serial"}, auth())  # 200 batches of 2
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while (j := requests.get(f"{dask_server.url}{API}/backtests/{job_id}", timeout=5).json())["done"] < 2:
        assert j["state"] in ("queued", "running") and time.monotonic() < deadline, j
        time.sleep(0.02)
    c = requests.delete(f"{dask_server.url}{API}/backtests/{job_id}", headers=auth(), timeout=5)
    assert c.status_code == 200 and c.json()["state"] == "cancelled"
    nxt = post(dask_server, SMALL, auth()).json()["id"]
    after = wait_job(dask_server.url, nxt, timeout=60)
    assert after["state"] == "done" and ran_on(cluster, nxt), after
    job = requests.get(f"{dask_server.url}{API}/backtests/{job_id}", timeout=5).json()
    assert job["state"] == "cancelled" and job["run_id"] is None and job["done"] < job["total"]
    assert not ran_on(cluster, job_id)  # the cancelled future's task never handed back a result
    assert dask_server.service.jobs.get(job_id).process is None


def test_the_task_stops_at_the_batch_after_its_cancel_event(cluster: Any, sample_dir: Path) -> None:
    from distributed import Client, Event, Queue

    from adaptrade.api.job_run import build_request
    from adaptrade.api.jobs_dask import dask_job, task_settings
    from adaptrade.settings import Settings

    req, settings = build_request({"stocks": 400, "bars": 5000, "seed": 1, "executor": "serial"},
                                  Settings(data_dir=sample_dir, batch_size=2))
    with Client(cluster, set_as_default=False) as client:
        queue, cancel = Queue("stop-test:messages", client=client), Event("stop-test:cancel", client=client)
        future = client.submit(dask_job, req, task_settings(settings), None, "per-stock", queue.name, cancel.name,
                               key="stop-test", pure=False)
        assert list(queue.get(timeout=60)) == ["progress", 0, 400]  # loaded; no batch has ended yet
        cancel.set()
        assert future.result(timeout=60) == ("cancelled", None, 0.0)
        rest = queue.get(batch=True)
        queue.close()
    done = [m[1] for m in rest if m[0] == "progress"]
    assert len(done) <= 2 and all(d < 400 for d in done), done  # at most the batches already running when it was set


@DUCKDB_ONLY
def test_a_job_failing_on_the_worker_is_reported(dask_server: Server, cluster: Any) -> None:
    r = post(dask_server, {"source": "archive", "symbols": "ZZZZ", "executor": "serial"}, auth())
    assert r.status_code == 202, r.text
    job = wait_job(dask_server.url, r.json()["id"], timeout=60)
    assert job["state"] == "failed" and "ZZZZ" in job["error"] and "Traceback" not in job["error"], job
    import time

    def raised() -> bool:  # the job shows failed a moment before its alert is recorded (JobManager._finish, then on_change)
        alerts = requests.get(f"{dask_server.url}{API}/alerts", params={"source": "service", "limit": 1000}, timeout=5).json()["alerts"]
        return any(a["job_id"] == job["id"] and a["name"] == "AdaptradeJobFailed" for a in alerts)

    deadline = time.monotonic() + 10
    while not raised() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert raised()
