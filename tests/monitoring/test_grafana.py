"""deploy/grafana: the committed dashboards are what generate.py writes, every panel's PromQL names
metrics adaptrade exports, the panels use the provisioned datasource, and (against the real Prometheus
of the end-to-end stack) every query returns data."""

from __future__ import annotations

import json
import math
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

from adaptrade.monitoring.metrics import Metrics, exported_names
from tests.monitoring.promql import metric_names
from tests.monitoring.stack import Stack

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
PROMETHEUS_OWN = {"up"}  # series Prometheus itself adds for every target
LIVE = {"$run": ".*", "$account": ".*", "$__rate_interval": "1m"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def targets() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) of every panel target."""
    return [(name, p["title"], t["expr"]) for name, d in dashboards().items() for p in d["panels"] for t in p["targets"]]


def test_committed_json_is_what_the_generator_writes() -> None:
    rendered = runpy.run_path(str(GRAFANA / "generate.py"))["render"]()
    assert set(rendered) == {"performance.json", "risk.json", "portfolio.json", "service.json"}
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text() == text, f"{name} is stale: run python deploy/grafana/generate.py"


def test_every_panel_query_names_exported_metrics() -> None:
    exported = exported_names(Metrics().registry) | PROMETHEUS_OWN
    assert len(targets()) >= 25
    used: set[str] = set()
    for dash, title, expr in targets():
        names = metric_names(expr)
        assert names and names <= exported, (dash, title, names - exported)
        used |= names
    for d in dashboards().values():
        for var in d["templating"]["list"]:
            [(metric, label)] = re.findall(r"label_values\((\w+), (\w+)\)", var["query"]["query"])
            assert metric in exported and label == var["name"]
    # every metric the issue lists is on some dashboard
    for must in ("adaptrade_orders_total", "adaptrade_fills_total", "adaptrade_realized_pnl_dollars", "adaptrade_unrealized_pnl_dollars",
                 "adaptrade_sharpe_ratio", "adaptrade_drawdown_ratio", "adaptrade_backtest_duration_seconds_bucket",
                 "adaptrade_bars_processed_total", "adaptrade_data_repairs_total", "adaptrade_jobs",
                 "adaptrade_api_request_duration_seconds_bucket", "adaptrade_api_errors_total"):
        assert must in used, must


def test_panels_are_laid_out_and_use_the_provisioned_datasource() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    [uid] = [d["uid"] for d in ds if d["type"] == "prometheus"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "adaptrade.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]
    uids = set()
    for name, d in dashboards().items():
        uids.add(d["uid"])
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for p in d["panels"]:
            g = p["gridPos"]
            assert p["datasource"]["uid"] == uid and all(t["datasource"]["uid"] == uid for t in p["targets"])
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24, (name, p["title"])
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{name}: {p['title']} overlaps another panel"
            cells |= mine
    assert len(uids) == 4


@pytest.mark.service
@pytest.mark.slow
def test_every_panel_query_returns_data_from_the_real_prometheus(alerting_stack: Stack) -> None:
    from tests.monitoring.stack import wait_until

    def substituted(expr: str) -> str:
        for var, value in LIVE.items():
            expr = expr.replace(var, value)
        return expr

    # activity between scrapes, so rates and quantiles over the last minute have something to show
    m, q = alerting_stack.metrics, alerting_stack.query
    wait_until(lambda: q("count_over_time(adaptrade_orders_total[1m]) >= 2"), 30, "two scrapes")
    before = float(q("sum(adaptrade_api_requests_total)")[0]["value"][1])
    for mode, seconds in (("per_stock", 2.0), ("portfolio", 5.0)):
        m.duration.labels(mode).observe(seconds)
        m.bars_processed(1000, mode)
    m.observe_request("GET", "/api/v1/runs", 200, 0.003)
    m.observe_request("GET", "/api/v1/runs/{run_id}", 503, 0.05)
    wait_until(lambda: q(f"sum(adaptrade_api_requests_total) > {before}"), 30, "a scrape after the activity")
    no_data = []
    for dash, title, expr in targets():
        result = q(substituted(expr))
        if not any(math.isfinite(float(r["value"][1])) for r in result):
            no_data.append((dash, title, substituted(expr), result))
    assert no_data == []
    for d in dashboards().values():
        for var in d["templating"]["list"]:
            metric, label = re.findall(r"label_values\((\w+), (\w+)\)", var["query"]["query"])[0]
            values = {r["metric"][label] for r in alerting_stack.query(metric)}
            assert "portfolio-run" in values or "portfolio" in values, (metric, label, values)
