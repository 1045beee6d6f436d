"""End to end with the real binaries on loopback: a drawdown gauge past its limit is scraped by Prometheus,
the deployed rule fires, the deployed Alertmanager routing pages the Events API v2 stand-in once (routing
key from the file, dedup key, severity, summary), resolves it with the same dedup key, and the breaker
alert inhibits the drawdown page of the same account. (`adaptrade serve` does not exist yet: the
metrics registry is served by prometheus_client's own HTTP exporter.)"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.monitoring.stack import ROUTING_KEY, Stack, get_json, wait_until


def pages(events: list[dict[str, Any]], run: str, alert: str, action: str = "trigger") -> list[dict[str, Any]]:
    """Events of one alert of one run (the receiver config sets group = run, class = alertname)."""
    return [e for e in events if e["event_action"] == action and e.get("payload", {}).get("group", run) == run
            and (action != "trigger" or e["payload"].get("class") == alert)]


@pytest.mark.service
@pytest.mark.slow
def test_drawdown_past_limit_pages_once_resolves_and_breaker_inhibits(alerting_stack: Stack) -> None:
    s = alerting_stack
    loaded = get_json(f"{s.prometheus_url}/api/v1/rules")["data"]["groups"]
    assert {r["name"] for g in loaded for r in g["rules"]} >= {"AdaptradeDrawdownPastLimit", "AdaptradeCircuitBreakerTripped",
                                                                "AdaptradeJobFailed", "AdaptradeNoData", "AdaptradeApiErrorRate"}
    s.metrics.set_run("e2e", "paper", {"drawdown": 0.05, "breaker": 0.0})
    wait_until(lambda: s.query('adaptrade_drawdown_ratio{run="e2e"} == 0.05'), 30, "gauge scraped", s.logs)
    time.sleep(3)  # three evaluations below the limit
    assert pages(s.receiver.events, "e2e", "AdaptradeDrawdownPastLimit") == []

    s.metrics.set_run("e2e", "paper", {"drawdown": 0.22})
    found = s.receiver.wait_for(lambda ev: pages(ev, "e2e", "AdaptradeDrawdownPastLimit"), timeout=90)
    [page] = pages(found, "e2e", "AdaptradeDrawdownPastLimit")
    assert page["routing_key"] == ROUTING_KEY  # read from the routing key file
    assert re.fullmatch(r"[0-9a-f]{64}", page["dedup_key"])  # Alertmanager's hash of the alert group
    p = page["payload"]
    assert p["severity"] == "critical" and p["component"] == "risk" and p["source"]
    assert p["summary"] == "AdaptradeDrawdownPastLimit: Drawdown of paper in run e2e is 22%, past the alert limit"
    firing = s.query('ALERTS{alertname="AdaptradeDrawdownPastLimit", run="e2e", alertstate="firing"}')
    assert firing and firing[0]["metric"]["severity"] == "critical"

    # back under the limit, and another account whose breaker tripped past the limit
    s.metrics.set_run("e2e", "paper", {"drawdown": 0.02})
    s.metrics.set_run("e2e-breaker", "paper", {"drawdown": 0.30, "breaker": 1.0})
    found = s.receiver.wait_for(lambda ev: pages(ev, "e2e-breaker", "AdaptradeCircuitBreakerTripped"), timeout=90)
    assert pages(found, "e2e-breaker", "AdaptradeCircuitBreakerTripped")[0]["payload"]["severity"] == "critical"
    found = s.receiver.wait_for(lambda ev: [e for e in ev if e["event_action"] == "resolve"
                                            and e["dedup_key"] == page["dedup_key"]], timeout=150)
    assert len(pages(found, "e2e", "AdaptradeDrawdownPastLimit")) == 1  # one page for the one incident
    # the drawdown alert of e2e-breaker fired in Prometheus but Alertmanager inhibited its page
    assert s.query('ALERTS{alertname="AdaptradeDrawdownPastLimit", run="e2e-breaker", alertstate="firing"}')
    assert pages(found, "e2e-breaker", "AdaptradeDrawdownPastLimit") == []
    assert all(e["routing_key"] == ROUTING_KEY for e in found)
    assert "integration=pagerduty" in s.logs(None) and ROUTING_KEY not in s.logs(None)  # Alertmanager logs at debug, without the key
