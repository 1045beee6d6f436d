"""Metrics: what a recorded backtest puts into the real prometheus_client exposition, read back with
prometheus_client's own text parser (and once over HTTP)."""

from __future__ import annotations

import math
import urllib.request

import numpy as np
import pytest
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from adaptrade.backtest.results import BacktestResult
from adaptrade.data.validate import QualityReport, SymbolQuality
from adaptrade.monitoring.metrics import Metrics, exported_names
from adaptrade.monitoring.record import (
    record_backtest,
    record_portfolio,
    record_quality,
)
from adaptrade.portfolio.results import PortfolioResult
from adaptrade.settings import Settings


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} parsed from the text exposition."""
    out = {}
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m).get((name, frozenset(labels.items())))


def test_per_stock_run_fills_bars_pnl_and_summary_figures(stock_result: BacktestResult) -> None:
    m = Metrics()
    record_backtest(m, stock_result, run="r1", seconds=3.2)
    tr = stock_result.trades
    assert len(tr) > 0 and tr["exit_date"].notna().any()
    for sym in stock_result.stocks["symbol"]:
        mine = tr[tr["symbol"] == sym]
        buys, sells = len(mine), int(mine["exit_date"].notna().sum())
        assert value(m, "adaptrade_fills_total", symbol=sym, side="buy", mode="per_stock") == (buys or None)
        assert value(m, "adaptrade_fills_total", symbol=sym, side="sell", mode="per_stock") == (sells or None)
        assert value(m, "adaptrade_orders_total", symbol=sym, side="buy", mode="per_stock") == (buys or None)
    assert value(m, "adaptrade_bars_processed_total", mode="per_stock") == stock_result.output.bars.valid.sum()
    closed = tr["exit_date"].notna()
    acc = {"run": "r1", "account": "per_stock_mean"}
    assert value(m, "adaptrade_realized_pnl_dollars", **acc) == pytest.approx(tr.loc[closed, "pnl"].sum())
    assert value(m, "adaptrade_unrealized_pnl_dollars", **acc) == pytest.approx(tr.loc[~closed, "pnl"].sum())
    assert value(m, "adaptrade_sharpe_ratio", **acc) == pytest.approx(stock_result.stocks["sharpe"].mean())
    assert value(m, "adaptrade_max_drawdown_ratio", **acc) == pytest.approx(abs(stock_result.stocks["max_drawdown"].mean()))
    assert value(m, "adaptrade_drawdown_ratio", **acc) is None  # no account in per-stock mode: no current drawdown
    assert value(m, "adaptrade_backtest_duration_seconds_count", mode="per_stock") == 1
    assert value(m, "adaptrade_backtest_duration_seconds_bucket", mode="per_stock", le="2.5") == 0
    assert value(m, "adaptrade_backtest_duration_seconds_bucket", mode="per_stock", le="5.0") == 1


def test_portfolio_run_orders_fills_account_and_breaker(portfolio_result: PortfolioResult) -> None:
    m = Metrics()
    record_portfolio(m, portfolio_result, run="p1")
    pr = portfolio_result
    assert len(pr.orders) > 0 and (pr.orders["status"] == "cancelled").any()  # orders != fills here
    for (sym, side), n in pr.orders.groupby(["symbol", "side"]).size().items():
        assert value(m, "adaptrade_orders_total", symbol=sym, side=side, mode="portfolio") == n
    for (sym, side), n in pr.fills.groupby(["symbol", "side"]).size().items():
        assert value(m, "adaptrade_fills_total", symbol=sym, side=side, mode="portfolio") == n
    acc = {"run": "p1", "account": "portfolio"}
    eq = pr.account["equity"].to_numpy()
    r = np.diff(eq) / eq[:-1]
    assert value(m, "adaptrade_sharpe_ratio", **acc) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    # account.csv drawdowns are negative (one sign for every reported drawdown); gauges hold positive fractions
    assert value(m, "adaptrade_max_drawdown_ratio", **acc) == pytest.approx(-pr.account["drawdown"].min())
    assert value(m, "adaptrade_drawdown_ratio", **acc) == pytest.approx(-pr.account["drawdown"].iloc[-1])
    assert value(m, "adaptrade_equity_dollars", **acc) == pytest.approx(eq[-1])
    trips = int((pr.events["rule"] == "breaker_tripped").sum())
    assert trips > 0 and value(m, "adaptrade_circuit_breaker_trips", **acc) == trips
    assert value(m, "adaptrade_circuit_breaker_on", **acc) == float(pr.account["breaker"].iloc[-1])
    real = pr.trades_all[~pr.trades_all["paper"]]
    assert value(m, "adaptrade_realized_pnl_dollars", **acc) == pytest.approx(real.loc[real["exit_date"] != "", "pnl"].sum())
    assert pr.trades_all["paper"].any()  # paper trades exist and are left out of the P&L


def test_per_run_gauges_are_bounded_and_forgettable(stock_result: BacktestResult) -> None:
    m = Metrics(Settings(metrics_max_runs=2))
    for run in ("a", "b", "c"):
        record_backtest(m, stock_result, run=run)
    assert m.runs == ("b", "c")
    runs = {dict(k[1]).get("run") for k in samples(m) if k[0] == "adaptrade_sharpe_ratio"}
    assert runs == {"b", "c"}
    record_backtest(m, stock_result, run="b")  # re-recording makes it the newest
    record_backtest(m, stock_result, run="d")
    assert m.runs == ("b", "d")
    m.forget_run("b")
    assert value(m, "adaptrade_sharpe_ratio", run="b", account="per_stock_mean") is None
    with pytest.raises(ValueError, match="per-run gauge"):
        m.set_run("x", "y", {"orders": 1.0})


def test_jobs_by_state_and_finished_counter() -> None:
    m = Metrics()
    assert value(m, "adaptrade_jobs_finished_total", state="failed") == 0  # exists before the first failure
    m.job_moved(None, "queued")
    m.job_moved(None, "queued")
    m.job_moved("queued", "running")
    m.job_moved("running", "failed")
    assert value(m, "adaptrade_jobs", state="queued") == 1
    assert value(m, "adaptrade_jobs", state="running") == 0
    assert value(m, "adaptrade_jobs", state="failed") == 1
    assert value(m, "adaptrade_jobs_finished_total", state="failed") == 1
    assert value(m, "adaptrade_jobs_finished_total", state="done") == 0
    with pytest.raises(ValueError, match="unknown job state"):
        m.job_moved("queued", "exploded")


def test_api_latency_histogram_and_server_errors_only() -> None:
    m = Metrics()
    m.observe_request("GET", "/api/v1/runs/{run_id}", 200, 0.004)
    m.observe_request("GET", "/api/v1/runs/{run_id}", 404, 0.002)
    m.observe_request("POST", "/api/v1/backtests", 503, 0.3)
    route = {"method": "GET", "route": "/api/v1/runs/{run_id}"}
    assert value(m, "adaptrade_api_request_duration_seconds_count", **route) == 2
    assert value(m, "adaptrade_api_request_duration_seconds_bucket", **route, le="0.0025") == 1
    assert value(m, "adaptrade_api_request_duration_seconds_bucket", **route, le="0.005") == 2
    assert value(m, "adaptrade_api_requests_total", **route, code="404") == 1
    assert value(m, "adaptrade_api_errors_total", **route, code="404") is None  # a 4xx is the client's error
    assert value(m, "adaptrade_api_errors_total", method="POST", route="/api/v1/backtests", code="503") == 1


def test_quality_report_defects_and_repairs() -> None:
    rep = QualityReport("drop", 3.0, (SymbolQuality("AAA", "a.csv", 100, "2020-01-02", "2020-05-29", 2, 1, 3, 1, 4),
                                      SymbolQuality("BBB", "b.csv", 100, "2020-01-02", "2020-05-29", 1, 0, 0, 0, 1)))
    m = Metrics()
    record_quality(m, rep)
    assert value(m, "adaptrade_data_defects_total", kind="missing_sessions") == 3
    assert value(m, "adaptrade_data_defects_total", kind="nan_rows") == 3
    assert value(m, "adaptrade_data_repairs_total", policy="drop") == 5


def test_thresholds_from_settings_own_registry_and_http_exposition() -> None:
    m = Metrics(Settings(alert_drawdown_limit=0.12, alert_no_data_minutes=7))
    assert value(m, "adaptrade_alert_drawdown_limit_ratio") == 0.12
    assert value(m, "adaptrade_alert_no_data_seconds") == 420
    assert Metrics().registry is not m.registry  # a second instance does not collide
    assert not any(f.name.startswith("adaptrade_") for f in REGISTRY.collect())  # the global registry stays clean
    names = exported_names(m.registry)
    assert {"adaptrade_orders_total", "adaptrade_drawdown_ratio", "adaptrade_api_request_duration_seconds_bucket"} <= names
    server, thread = start_http_server(0, addr="127.0.0.1", registry=m.registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as resp:
            body = resp.read().decode()
            assert resp.headers["Content-Type"].startswith("text/plain")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    assert fams["adaptrade_alert_drawdown_limit_ratio"].samples[0].value == 0.12
    assert fams["adaptrade_orders"].type == "counter" and fams["adaptrade_backtest_duration_seconds"].type == "histogram"


def test_alert_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings

    monkeypatch.setenv("ADAPTRADE_ALERT_DRAWDOWN_LIMIT", "1.5")
    with pytest.raises(ConfigError, match="ADAPTRADE_ALERT_DRAWDOWN_LIMIT"):
        load_settings()
    monkeypatch.setenv("ADAPTRADE_ALERT_DRAWDOWN_LIMIT", "0.1")
    monkeypatch.setenv("ADAPTRADE_METRICS_MAX_RUNS", "3")
    s = load_settings()
    assert (s.alert_drawdown_limit, Metrics(s).max_runs) == (0.1, 3)
