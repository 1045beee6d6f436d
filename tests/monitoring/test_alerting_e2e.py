"""End to end with the real binaries on loopback: Debian's `prometheus` scrapes a running `adaptrade serve`, and
the conditions are made through the service's own API. A portfolio job whose account ends past the drawdown
limit, one whose circuit breaker is on at its last bar, and a job that fails at load (a corrupt archive file)
make the deployed rules fire; the deployed Alertmanager routing pages the Events API v2 stand-in once per
incident (routing key from the file, 64-hex dedup key, severity, summary); the breaker inhibits the drawdown
page of its own account; and when newer runs push the drawdown run out of /metrics (metrics_max_runs), its
page is resolved with the same dedup key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.monitoring.stack import (
    BAD_ROW,
    BREAKER_JOB,
    DRAWDOWN_JOB,
    FAILING_JOB,
    ROUTING_KEY,
    SERVE_SETTINGS,
    STOCKS_JOB,
    ARCHIVE_JOB,
    TOKEN,
    Stack,
    get_json,
)


def pages(events: list[dict[str, Any]], alert: str, run: str | None = None, action: str = "trigger") -> list[dict[str, Any]]:
    """Trigger events of one alert (of one run): the receiver config sets class = alertname, group = run."""
    return [e for e in events if e["event_action"] == action and e["payload"].get("class") == alert
            and (run is None or e["payload"].get("group") == run)]


def humanize_percentage(ratio: float) -> str:
    """Prometheus' humanizePercentage (Go's %.4g of the percentage)."""
    return f"{ratio * 100:.4g}%"


def portfolio_run(s: Stack, job_id: str) -> tuple[str, float, float]:
    """(run id, drawdown at the last bar, breaker at the last bar) of a finished portfolio job, from /metrics."""
    job = s.wait_job(job_id)
    assert job["state"] == "done", job
    run = job["run_id"]
    dd = s.metric("adaptrade_drawdown_ratio", run=run, account="portfolio")
    breaker = s.metric("adaptrade_circuit_breaker_on", run=run, account="portfolio")
    assert dd is not None and breaker is not None, f"run {run} has no account gauges"
    return run, dd, breaker


@pytest.mark.service
@pytest.mark.slow
def test_conditions_made_through_the_service_page_once_inhibit_and_resolve(serve_stack: Stack) -> None:
    s = serve_stack
    loaded = get_json(f"{s.prometheus_url}/api/v1/rules")["data"]["groups"]
    assert {r["name"] for g in loaded for r in g["rules"]} >= {"AdaptradeDrawdownPastLimit", "AdaptradeCircuitBreakerTripped",
                                                                "AdaptradeJobFailed", "AdaptradeNoData", "AdaptradeApiErrorRate"}
    limit = float(SERVE_SETTINGS["alert_drawdown_limit"])
    assert s.value("adaptrade_alert_drawdown_limit_ratio") == limit  # the setting, as the service exports it

    drawdown_job, failing_job = s.start_job(DRAWDOWN_JOB), s.start_job(FAILING_JOB)
    run_d, dd_d, breaker_d = portfolio_run(s, drawdown_job)
    # preconditions of the seeds chosen (they fail here, clearly, if the synthetic data or the engine change)
    assert dd_d > limit and breaker_d == 0, f"DRAWDOWN_JOB: drawdown {dd_d} (limit {limit}), breaker {breaker_d}"
    breaker_job, stocks_job = s.start_job(BREAKER_JOB), s.start_job(STOCKS_JOB)  # stored after D: D stays the oldest run
    failed = s.wait_job(failing_job)
    assert failed["state"] == "failed" and "BAD.csv" in failed["error"] and f"line {BAD_ROW}" in failed["error"] \
        and "high" in failed["error"], failed
    run_b, dd_b, breaker_b = portfolio_run(s, breaker_job)
    assert breaker_b == 1 and dd_b > limit, f"BREAKER_JOB: drawdown {dd_b} (limit {limit}), breaker {breaker_b}"
    assert s.wait_job(stocks_job)["state"] == "done"

    # the drawdown page of D
    found = s.receiver.wait_for(lambda ev: pages(ev, "AdaptradeDrawdownPastLimit", run_d), timeout=60)
    [page] = pages(found, "AdaptradeDrawdownPastLimit", run_d)
    assert page["routing_key"] == ROUTING_KEY  # read from the routing key file
    assert re.fullmatch(r"[0-9a-f]{64}", page["dedup_key"])  # Alertmanager's hash of the alert group
    p = page["payload"]
    assert p["severity"] == "critical" and p["component"] == "risk" and p["source"]
    assert p["summary"] == (f"AdaptradeDrawdownPastLimit: Drawdown of portfolio in run {run_d} is {humanize_percentage(dd_d)}, "
                            "past the alert limit")
    status, alerts = s.api("GET", "/api/v1/alerts?state=firing&source=service")  # the service saw the same condition
    ids = {a["id"] for a in alerts["alerts"]}
    assert status == 200 and {f"service:AdaptradeDrawdownPastLimit:{run_d}", f"service:AdaptradeJobFailed:{failing_job}"} <= ids, ids

    # the breaker page of B (its drawdown page is inhibited: checked below, after the resolve wait)
    found = s.receiver.wait_for(lambda ev: pages(ev, "AdaptradeCircuitBreakerTripped", run_b), timeout=60)
    [brk] = pages(found, "AdaptradeCircuitBreakerTripped", run_b)
    assert brk["payload"]["severity"] == "critical" and re.fullmatch(r"[0-9a-f]{64}", brk["dedup_key"])
    assert brk["payload"]["summary"] == f"AdaptradeCircuitBreakerTripped: Circuit breaker tripped for portfolio in run {run_b}"

    # a fourth stored run pushes D's series out of /metrics (metrics_max_runs 3): its alert resolves
    archive = s.wait_job(s.start_job(ARCHIVE_JOB))
    assert archive["state"] == "done", archive
    assert s.metric("adaptrade_drawdown_ratio", run=run_d, account="portfolio") is None
    assert s.metric("adaptrade_drawdown_ratio", run=run_b, account="portfolio") == dd_b

    # the failed job's page (non-critical route: 30 s group wait)
    found = s.receiver.wait_for(lambda ev: pages(ev, "AdaptradeJobFailed"), timeout=90)
    [jf] = pages(found, "AdaptradeJobFailed")
    assert jf["routing_key"] == ROUTING_KEY and re.fullmatch(r"[0-9a-f]{64}", jf["dedup_key"])
    assert jf["payload"]["severity"] == "error" and jf["payload"]["component"] == "jobs"
    assert jf["payload"]["summary"] == f"AdaptradeJobFailed: A backtest job failed on {s.target} in the last 15 minutes"

    # D resolved with the same dedup key (waits out the critical route's 1 min group interval)
    found = s.receiver.wait_for(lambda ev: [e for e in ev if e["event_action"] == "resolve"
                                            and e["dedup_key"] == page["dedup_key"]], timeout=150)
    assert len(pages(found, "AdaptradeDrawdownPastLimit", run_d)) == 1  # one page for the one incident
    assert len(pages(found, "AdaptradeCircuitBreakerTripped", run_b)) == 1 and len(pages(found, "AdaptradeJobFailed")) == 1
    # the drawdown alert of B fires in Prometheus, but Alertmanager inhibited its page
    assert s.query(f'ALERTS{{alertname="AdaptradeDrawdownPastLimit", run="{run_b}", alertstate="firing"}}')
    assert pages(found, "AdaptradeDrawdownPastLimit", run_b) == []
    assert all(e["routing_key"] == ROUTING_KEY for e in found)
    logs = s.logs(None)
    assert "integration=pagerduty" in logs and ROUTING_KEY not in logs  # Alertmanager logs at debug, without the key
    assert TOKEN not in logs  # nor the service, which was sent it on every job request
