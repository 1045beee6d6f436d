"""deploy/grafana: the committed dashboards are what generate.py writes, every panel's PromQL names
metrics adaptrade exports, the panels use the provisioned datasource, and (against the real Prometheus
of the end-to-end stack, scraping a running `adaptrade serve`) every query names metrics the service
serves and returns data."""

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
def test_every_panel_query_returns_data_from_the_real_prometheus(serve_stack: Stack) -> None:
    """Activity made through the running service within the last minute (a portfolio job, an archive job whose
    file is repaired at load, server errors), then every panel's query against the Prometheus scraping it."""
    from adaptrade.data.archive import check_archive
    from tests.monitoring.stack import ARCHIVE_JOB, QUIET_JOB, wait_until

    s, q = serve_stack, serve_stack.query
    repairs_before = s.metric("adaptrade_data_repairs_total", policy="drop") or 0.0
    defects_before = {k: s.metric("adaptrade_data_defects_total", kind=k) or 0.0 for k in ("missing_sessions", "zero_volume")}
    portfolio, archive = s.start_job(QUIET_JOB), s.start_job(ARCHIVE_JOB)
    run_p, run_a = (s.wait_job(j)["run_id"] for j in (portfolio, archive))
    assert run_p and run_a
    # the archive job's load was counted: what check_archive finds in the same file (at least the defects put there)
    report = check_archive(s.data_dir, ["AAPL"], policy="drop").totals
    assert report["missing_sessions"] >= 1 and report["zero_volume"] >= 1 and report["repaired"] >= 1
    assert s.metric("adaptrade_data_repairs_total", policy="drop") == repairs_before + report["repaired"]
    for kind, before in defects_before.items():
        assert s.metric("adaptrade_data_defects_total", kind=kind) == before + report[kind]

    # server errors: /ready answers 503 while the service's Redis is stopped; twice, a scrape apart, so the
    # error counter rises inside the rate window
    errors = 'sum(adaptrade_api_errors_total{route="/api/v1/ready", code="503"})'
    s.redis.stop()
    try:
        for _ in range(2):
            before = s.value(errors) or 0.0
            status, body = s.api("GET", "/api/v1/ready")
            assert status == 503 and body["redis"]["ok"] is False, body
            wait_until(lambda b=before: (s.value(errors) or 0.0) > b, 30, "a scrape of the 503", s.logs)
    finally:
        s.redis.start()
    wait_until(lambda: s.api("GET", "/api/v1/ready")[0] == 200, 30, "Redis back", s.logs)
    wait_until(lambda: q(f'adaptrade_equity_dollars{{run="{run_p}"}}') and q(f'adaptrade_sharpe_ratio{{run="{run_a}"}}'), 30,
               "the jobs' runs scraped", s.logs)

    def substituted(expr: str) -> str:
        for var, value in LIVE.items():
            expr = expr.replace(var, value)
        return expr

    served = s.served_names() | PROMETHEUS_OWN
    no_data = []
    for dash, title, expr in targets():
        assert metric_names(expr) <= served, (dash, title, metric_names(expr) - served)  # what the running service exports
        result = q(substituted(expr))
        if not any(math.isfinite(float(r["value"][1])) for r in result):
            no_data.append((dash, title, substituted(expr), result))
    assert no_data == []
    for d in dashboards().values():
        for var in d["templating"]["list"]:
            metric, label = re.findall(r"label_values\((\w+), (\w+)\)", var["query"]["query"])[0]
            values = {r["metric"][label] for r in q(metric)}
            assert (run_p if label == "run" else "portfolio") in values, (metric, label, values)
