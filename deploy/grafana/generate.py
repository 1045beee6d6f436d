"""Generate the provisioned Grafana dashboards (performance, risk, portfolio, service) from code.

    python deploy/grafana/generate.py     # rewrites deploy/grafana/dashboards/*.json

The JSON is committed (and reviewed); tests/monitoring/test_grafana.py fails when it differs from what
this script writes, when a panel's PromQL names a metric adaptrade does not export, or (with the real
Prometheus of the end-to-end test) when a query returns nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "adaptrade-prometheus"}  # provisioning/datasources/prometheus.yml
RUN = 'run=~"$run", account=~"$account"'
RATE = "$__rate_interval"


def panel(title: str, exprs: list[tuple[str, str]], *, kind: str = "timeseries", unit: str = "short",
          width: int = 12, height: int = 8, description: str = "") -> dict[str, Any]:
    """One panel of `kind` with one target per (expr, legend); ids and positions are set by `dashboard`."""
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [{"refId": chr(65 + i), "datasource": DATASOURCE, "expr": e, "legendFormat": legend,
                     **({"instant": True, "format": "table"} if kind == "table" else {})}
                    for i, (e, legend) in enumerate(exprs)],
    }


def variable(name: str, metric: str) -> dict[str, Any]:
    q = f"label_values({metric}, {name})"
    return {"name": name, "label": name, "type": "query", "datasource": DATASOURCE, "definition": q,
            "query": {"query": q, "refId": f"var-{name}"}, "refresh": 2, "includeAll": True, "multi": True,
            "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "sort": 1}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]) -> dict[str, Any]:
    """Panels laid out left to right, 24 columns wide, numbered from 1."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"], p["gridPos"] = i, {"h": h, "w": w, "x": x, "y": y}
        x, row_h = x + w, max(row_h, h)
    return {"uid": uid, "title": title, "description": description, "tags": ["adaptrade"], "timezone": "utc",
            "editable": False, "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"}, "templating": {"list": variables}, "annotations": {"list": []},
            "panels": panels}


def performance() -> dict[str, Any]:
    return dashboard("adaptrade-performance", "adaptrade / performance", "Results of recorded runs and how fast they ran.", [
        panel("Sharpe ratio by run and account", [(f"adaptrade_sharpe_ratio{{{RUN}}}", "{{run}} {{account}}")], kind="table", width=8),
        panel("Max drawdown by run and account", [(f"adaptrade_max_drawdown_ratio{{{RUN}}}", "{{run}} {{account}}")],
              kind="table", unit="percentunit", width=8),
        panel("P&L: realised and unrealised", [(f"adaptrade_realized_pnl_dollars{{{RUN}}}", "realised {{run}} {{account}}"),
                                              (f"adaptrade_unrealized_pnl_dollars{{{RUN}}}", "unrealised {{run}} {{account}}")],
              kind="table", unit="currencyUSD", width=8),
        panel("Backtest duration p50 / p95", [
            (f"histogram_quantile(0.5, sum by (le, mode) (rate(adaptrade_backtest_duration_seconds_bucket[{RATE}])))", "p50 {{mode}}"),
            (f"histogram_quantile(0.95, sum by (le, mode) (rate(adaptrade_backtest_duration_seconds_bucket[{RATE}])))", "p95 {{mode}}")],
            unit="s"),
        panel("Backtests finished (1h)", [("sum by (mode) (increase(adaptrade_backtest_duration_seconds_count[1h]))", "{{mode}}")]),
        panel("Stock-bars processed per second", [(f"sum by (mode) (rate(adaptrade_bars_processed_total[{RATE}]))", "{{mode}}")],
              unit="ops", width=24),
    ], [variable("run", "adaptrade_sharpe_ratio"), variable("account", "adaptrade_sharpe_ratio")])


def risk() -> dict[str, Any]:
    return dashboard("adaptrade-risk", "adaptrade / risk", "Drawdowns against the alert limit, the circuit breaker, exposure.", [
        panel("Drawdown at the latest bar vs the alert limit", [
            (f"adaptrade_drawdown_ratio{{{RUN}}}", "{{run}} {{account}}"),
            ("max(adaptrade_alert_drawdown_limit_ratio)", "alert limit")], unit="percentunit", width=16,
            description="The AdaptradeDrawdownPastLimit alert fires above the limit (setting alert_drawdown_limit)."),
        panel("Circuit breaker on", [(f"adaptrade_circuit_breaker_on{{{RUN}}}", "{{run}} {{account}}")], kind="stat", width=8),
        panel("Breaker trips per run", [(f"adaptrade_circuit_breaker_trips{{{RUN}}}", "{{run}} {{account}}")], kind="table"),
        panel("Gross exposure", [(f"adaptrade_gross_exposure_ratio{{{RUN}}}", "{{run}} {{account}}")], unit="percentunit"),
    ], [variable("run", "adaptrade_drawdown_ratio"), variable("account", "adaptrade_drawdown_ratio")])


def portfolio() -> dict[str, Any]:
    return dashboard("adaptrade-portfolio", "adaptrade / portfolio", "Accounts: equity, P&L, orders and fills by symbol and side.", [
        panel("Equity", [(f"adaptrade_equity_dollars{{{RUN}}}", "{{run}} {{account}}")], kind="table", unit="currencyUSD", width=8),
        panel("Realised P&L", [(f"adaptrade_realized_pnl_dollars{{{RUN}}}", "{{run}} {{account}}")], kind="table",
              unit="currencyUSD", width=8),
        panel("Unrealised P&L", [(f"adaptrade_unrealized_pnl_dollars{{{RUN}}}", "{{run}} {{account}}")], kind="table",
              unit="currencyUSD", width=8),
        panel("Orders by symbol and side", [('sum by (symbol, side) (adaptrade_orders_total{mode="portfolio"})', "{{symbol}} {{side}}")],
              kind="table"),
        panel("Fills by symbol and side", [('sum by (symbol, side) (adaptrade_fills_total{mode="portfolio"})', "{{symbol}} {{side}}")],
              kind="table"),
        panel("Fills per order", [('sum(adaptrade_fills_total{mode="portfolio"}) / sum(adaptrade_orders_total{mode="portfolio"})',
                                   "fills / orders")], kind="stat", width=8),
        panel("Most traded symbols (fills)", [("topk(10, sum by (symbol) (adaptrade_fills_total))", "{{symbol}}")], kind="table", width=16),
    ], [variable("run", "adaptrade_equity_dollars"), variable("account", "adaptrade_equity_dollars")])


def service() -> dict[str, Any]:
    route = f"sum by (route) (rate(adaptrade_api_requests_total[{RATE}]))"
    return dashboard("adaptrade-service", "adaptrade / service", "The API, the job queue and the data loads.", [
        panel("Scrape target up", [('up{job="adaptrade"}', "{{instance}}")], kind="stat", width=6),
        panel("Seconds since bars were last processed", [("time() - adaptrade_last_data_timestamp_seconds", "{{instance}}"),
                                                         ("adaptrade_alert_no_data_seconds", "NoData alert after")],
              kind="stat", unit="s", width=6),
        panel("Jobs by state", [("sum by (state) (adaptrade_jobs)", "{{state}}")], width=12),
        panel("API requests per second by route", [(route, "{{route}}")], unit="reqps"),
        panel("API latency p50 / p99", [
            (f"histogram_quantile(0.5, sum by (le) (rate(adaptrade_api_request_duration_seconds_bucket[{RATE}])))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate(adaptrade_api_request_duration_seconds_bucket[{RATE}])))", "p99")], unit="s"),
        panel("API 5xx share", [(f"sum(rate(adaptrade_api_errors_total[{RATE}])) / sum(rate(adaptrade_api_requests_total[{RATE}]))",
                                 "5xx / all")], unit="percentunit",
              description="AdaptradeApiErrorRate fires above 5% for 5 minutes."),
        panel("Jobs finished (1h)", [("sum by (state) (increase(adaptrade_jobs_finished_total[1h]))", "{{state}}")]),
        panel("Data defects found, by kind", [("sum by (kind) (adaptrade_data_defects_total)", "{{kind}}")], kind="table"),
        panel("Rows repaired, by policy", [("sum by (policy) (adaptrade_data_repairs_total)", "{{policy}}")], kind="table"),
    ], [])


DASHBOARDS = {"performance": performance, "risk": risk, "portfolio": portfolio, "service": service}


def render() -> dict[str, str]:
    """{file name: JSON text} of every dashboard."""
    return {f"{name}.json": json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    out = HERE / "dashboards"
    out.mkdir(exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
