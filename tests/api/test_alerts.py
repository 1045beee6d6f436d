"""GET /alerts and POST /alerts/webhook through the real HTTP stack on both store backends: a failed job
raises an alert that is stored and streamed; Alertmanager's webhook payloads (hand-written, then sent
by the real Debian `prometheus-alertmanager`) show with their firing/resolved state."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from websockets.sync.client import connect

from tests.api.conftest import TOKEN, Server, Store, auth, free_port, wait_job
from tests.api.test_jobs import read_until, ws_url
from tests.api.test_read import get, is_problem

pytestmark = pytest.mark.service
API = "/api/v1"


def am_alert(name: str, fingerprint: str, status: str, run: str = "r-1", ends: str = "0001-01-01T00:00:00Z") -> dict:
    return {"status": status, "labels": {"alertname": name, "severity": "critical", "run": run, "account": "portfolio",
                                          "job": "adaptrade", "instance": "127.0.0.1:1"},
            "annotations": {"summary": f"{name} on {run}"}, "startsAt": "2026-01-05T10:00:00Z", "endsAt": ends,
            "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def webhook(server: Server, alerts: list[dict], headers: dict[str, str] | None = None) -> requests.Response:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    body = {"version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": status, "receiver": "adaptrade",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "alerts": alerts}
    return requests.post(server.url + API + "/alerts/webhook", json=body, headers=headers if headers is not None else auth(), timeout=10)


def test_a_failed_job_raises_a_stored_and_streamed_alert(server: Server) -> None:
    with connect(ws_url(server, "$")) as ws:
        assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
        r = requests.post(server.url + API + "/backtests", json={"source": "archive", "symbols": "ZZZZQ"}, headers=auth(), timeout=10)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        seen = read_until(ws, lambda m: m["kind"] == "alert" and (m["data"] or {}).get("job_id") == job_id)
    assert wait_job(server.url, job_id)["state"] == "failed"
    event = seen[-1]["data"]
    assert event["name"] == "AdaptradeJobFailed" and event["state"] == "firing" and job_id in event["summary"]
    listed = get(server, "/alerts", source="service", limit=1000).json()
    mine = [a for a in listed["alerts"] if a["job_id"] == job_id]
    assert len(mine) == 1 and mine[0]["id"] == f"service:AdaptradeJobFailed:{job_id}" and mine[0]["severity"] == "error"
    assert listed["firing"] >= 1 and mine[0]["labels"]["job_id"] == job_id


def test_alertmanager_webhook_records_firing_then_resolved(server: Server, store: Store) -> None:
    fp = f"fp{store.backend}{time.time_ns()}"
    assert webhook(server, [am_alert("AdaptradeDrawdownPastLimit", fp, "firing")], headers={}).status_code == 401
    assert webhook(server, [am_alert("AdaptradeDrawdownPastLimit", fp, "firing")], {"Authorization": "Bearer nope"}).status_code == 403
    r = webhook(server, [am_alert("AdaptradeDrawdownPastLimit", fp, "firing")])
    assert r.status_code == 200 and r.json() == {"recorded": 1}
    a = next(x for x in get(server, "/alerts", source="alertmanager").json()["alerts"] if x["id"] == f"alertmanager:{fp}")
    assert a["state"] == "firing" and a["ended"] is None and a["run_id"] == "r-1" and a["severity"] == "critical"
    assert a["summary"] == "AdaptradeDrawdownPastLimit on r-1" and a["started"] == "2026-01-05T10:00:00Z"
    assert a["id"] in [x["id"] for x in get(server, "/alerts", state="firing", limit=1000).json()["alerts"]]

    r = webhook(server, [am_alert("AdaptradeDrawdownPastLimit", fp, "resolved", ends="2026-01-05T11:00:00Z")])
    assert r.status_code == 200
    b = next(x for x in get(server, "/alerts", source="alertmanager").json()["alerts"] if x["id"] == f"alertmanager:{fp}")
    assert b["state"] == "resolved" and b["ended"] == "2026-01-05T11:00:00Z" and b["started"] == a["started"]
    assert b["id"] not in [x["id"] for x in get(server, "/alerts", state="firing", limit=1000).json()["alerts"]]


@pytest.mark.parametrize("body", [{}, {"status": "firing"}, {"status": "burning", "alerts": []},
                                  {"status": "firing", "alerts": [{"status": "firing"}]}, [1]])
def test_bad_webhook_payloads_are_422(server: Server, body: object) -> None:
    r = requests.post(server.url + API + "/alerts/webhook", json=body, headers=auth(), timeout=10)
    is_problem(r, 422)


def test_bad_alert_filters_are_422(server: Server) -> None:
    is_problem(get(server, "/alerts", state="sleeping"), 422)
    is_problem(get(server, "/alerts", limit=0), 422)


def test_the_real_alertmanager_posts_to_the_webhook(server: Server, store: Store, tmp_path: Path) -> None:
    """Debian's prometheus-alertmanager, routing to the service's webhook with the bearer token from a file:
    an alert pushed to it shows firing in /alerts, then resolved once it ends."""
    if store.backend != "postgresql":
        pytest.skip("one real Alertmanager run is enough (it runs on the PostgreSQL-backed service)")
    from tests.monitoring.binaries import require

    binary = require("prometheus-alertmanager")
    (tmp_path / "token").write_text(TOKEN)
    cfg = {"route": {"receiver": "adaptrade", "group_by": ["alertname", "run"], "group_wait": "1s", "group_interval": "1s",
                     "repeat_interval": "1h"},
           "receivers": [{"name": "adaptrade", "webhook_configs": [{
               "url": server.url + API + "/alerts/webhook", "send_resolved": True,
               "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")}}}]}]}
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    log = (tmp_path / "am.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    am = f"http://127.0.0.1:{port}/api/v2/alerts"
    run = f"am-e2e-{time.time_ns()}"

    def push(ends: datetime) -> None:
        labels = {"alertname": "AdaptradeCircuitBreakerTripped", "severity": "critical", "run": run}
        r = requests.post(am, json=[{"labels": labels, "annotations": {"summary": f"breaker tripped on {run}"},
                                     "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(), "endsAt": ends.isoformat()}], timeout=5)
        assert r.status_code == 200, r.text

    def state() -> str | None:
        rows = [a for a in get(server, "/alerts", source="alertmanager", limit=1000).json()["alerts"] if a["run_id"] == run]
        return rows[0]["state"] if rows else None

    def wait_for(want: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if state() == want:
                return
            time.sleep(0.2)
        raise AssertionError(f"alert not {want} in /alerts after {timeout} s; alertmanager log:\n{(tmp_path / 'am.log').read_text()[-3000:]}")

    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        push(datetime.now(UTC) + timedelta(hours=1))
        wait_for("firing")
        push(datetime.now(UTC) - timedelta(seconds=1))  # ended: Alertmanager sends the resolved notification
        wait_for("resolved")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    assert TOKEN not in (tmp_path / "am.log").read_text()


def test_nul_characters_in_a_payload_do_not_break_the_store(server: Server, store: Store) -> None:
    fp = f"nul{store.backend}{time.time_ns()}"
    r = webhook(server, [am_alert("Nul\x00Name", fp, "firing", run="r\x00un")])  # PostgreSQL text cannot hold NUL
    assert r.status_code == 200, r.text
    a = next(x for x in get(server, "/alerts", source="alertmanager", limit=1000).json()["alerts"] if x["id"] == f"alertmanager:{fp}")
    assert a["name"] == "NulName" and a["run_id"] == "run"


def test_direct_pagerduty_pages_are_recorded_and_streamed(server: Server, store: Store) -> None:
    """The direct notifier against the local Events API stand-in: a trigger shows firing in GET /alerts and on the
    stream, a second trigger of the open incident neither pages nor changes the record, the resolve shows resolved;
    a trigger PagerDuty refuses (400) is recorded as firing with delivery failed."""
    import random

    from adaptrade.api.alerts import pagerduty_recorder
    from adaptrade.monitoring.pagerduty import PagerDutyError, PagerDutyNotifier, dedup_key
    from tests.monitoring.receiver import EventsReceiver, Reply

    rec = EventsReceiver()
    svc = server.service
    pd = PagerDutyNotifier("R0UTINGKEYR0UTINGKEYR0UTINGKEY32", url=rec.url, source="adaptrade-test", timeout=2.0, max_attempts=2,
                           sleep=lambda s: None, rng=random.Random(1), record=pagerduty_recorder(svc.store, svc.bus))
    key = dedup_key("drawdown", store.backend, str(time.time_ns()))
    try:
        with connect(ws_url(server, "$")) as ws:
            assert json.loads(ws.recv(timeout=5))["kind"] == "hello"
            pd.trigger(key, f"drawdown 18% past 15% ({store.backend})", "critical", event_class="AdaptradeDrawdownPastLimit",
                       details={"run": "run-pd-1"})
            streamed = read_until(ws, lambda m: m["kind"] == "alert" and m["data"].get("id") == f"pagerduty:{key}", timeout=10)[-1]["data"]
        assert streamed["state"] == "firing" and streamed["source"] == "pagerduty" and streamed["labels"]["delivery"] == "delivered"

        def listed() -> dict:
            rows = get(server, "/alerts", source="pagerduty", limit=1000).json()["alerts"]
            return {a["id"]: a for a in rows}[f"pagerduty:{key}"]

        a = listed()
        assert (a["name"], a["state"], a["severity"], a["run_id"], a["ended"]) == ("AdaptradeDrawdownPastLimit", "firing", "critical",
                                                                                     "run-pd-1", None)
        assert "R0UTINGKEY" not in json.dumps(a)
        assert not pd.trigger(key, "again", "critical").sent and rec.pages() == 1 and listed()["summary"] == a["summary"]
        pd.resolve(key)
        b = listed()
        assert b["state"] == "resolved" and b["ended"] and b["started"] == a["started"] and b["labels"]["action"] == "resolve"
        refused = dedup_key("refused", store.backend, str(time.time_ns()))
        rec.script.append(Reply(status=400, body='{"status": "invalid event"}'))
        with pytest.raises(PagerDutyError):
            pd.trigger(refused, "a page PagerDuty refuses", "error")
        rows = {x["id"]: x for x in get(server, "/alerts", source="pagerduty", limit=1000).json()["alerts"]}
        c = rows[f"pagerduty:{refused}"]
        assert c["state"] == "firing" and c["labels"]["delivery"] == "failed" and "HTTP 400" in c["labels"]["delivery_error"]
    finally:
        rec.close()


def test_the_service_pages_its_own_alerts_with_pagerduty_direct(server: Server, store: Store) -> None:
    """Setting pagerduty_direct: a failed job's AdaptradeJobFailed goes to the Events API (stand-in) from the
    pager's thread, with a dedup key naming the alert, its severity, class and summary, and the page is recorded."""
    import random

    from adaptrade.api.alerts import pagerduty_recorder
    from adaptrade.api.direct_pages import ServicePager
    from adaptrade.monitoring.pagerduty import PagerDutyNotifier
    from tests.monitoring.receiver import EventsReceiver

    rec = EventsReceiver()
    svc = server.service
    notifier = PagerDutyNotifier("D1RECTKEYD1RECTKEYD1RECTKEY00032", url=rec.url, timeout=2.0, max_attempts=2, sleep=lambda s: None,
                                 rng=random.Random(2), record=pagerduty_recorder(svc.store, svc.bus))
    svc.pager = ServicePager(notifier)
    try:
        r = requests.post(server.url + API + "/backtests", json={"source": "archive", "symbols": "ZZZZQ"}, headers=auth(), timeout=10)
        job_id = r.json()["id"]
        assert wait_job(server.url, job_id)["state"] == "failed"
        # the job's state can show failed a moment before its alert is recorded and queued for the pager
        found = rec.wait_for(lambda ev: [e for e in ev if e["event_action"] == "trigger" and e["dedup_key"].endswith(job_id)], timeout=30)
        assert svc.pager.drain(30)
        [page] = [e for e in found if e["event_action"] == "trigger" and e["dedup_key"].endswith(job_id)]
        assert page["dedup_key"] == f"adaptrade/service/AdaptradeJobFailed/{job_id}" and page["routing_key"] == "D1RECTKEYD1RECTKEYD1RECTKEY00032"
        p = page["payload"]
        assert p["severity"] == "error" and p["class"] == "AdaptradeJobFailed" and p["component"] == "jobs" and job_id in p["summary"]
        rows = {a["id"]: a for a in get(server, "/alerts", source="pagerduty", limit=1000).json()["alerts"]}
        mine = rows[f"pagerduty:{page['dedup_key']}"]
        assert mine["state"] == "firing" and mine["labels"]["delivery"] == "delivered" and mine["job_id"] == job_id
    finally:
        svc.pager.close()
        svc.pager = None
        rec.close()


def test_pagerduty_direct_without_a_routing_key_is_a_config_error() -> None:
    from adaptrade.api.direct_pages import ServicePager
    from adaptrade.errors import ConfigError
    from adaptrade.settings import Settings

    with pytest.raises(ConfigError, match="routing key"):
        ServicePager.from_service(Settings(pagerduty_direct=True), None, None)
