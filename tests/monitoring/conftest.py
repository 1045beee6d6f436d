"""Fixtures of the monitoring tests: one small per-stock and one portfolio result (synthetic data), and the
real alerting stack (started only by the tests that ask for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adaptrade.backtest.results import BacktestResult
from adaptrade.portfolio.results import PortfolioResult
from tests.monitoring.stack import Stack


@pytest.fixture(scope="session")
def stock_result() -> BacktestResult:
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.results import build_result
    from adaptrade.data.synthetic import generate
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB", "CCC", "DDD"], 800, seed=3)
    return build_result(run_backtest(bars, StrategyConfig()), None, "SPY")


@pytest.fixture(scope="session")
def portfolio_result() -> PortfolioResult:
    """A portfolio run whose breaker trips (tight max_drawdown), sized at max_position from the first trade."""
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB", "CCC", "DDD"], 800, seed=3)
    cfg = StrategyConfig()
    limits = RiskLimits(kelly_fraction=0.0, max_position=0.5, max_drawdown=0.05, initial_cash=cfg.initial_cash)
    return build_portfolio_result(run_portfolio_backtest(bars, cfg, limits), None, "SPY")


@pytest.fixture(scope="session")
def alerting_stack(tmp_path_factory: pytest.TempPathFactory, stock_result: BacktestResult,
                   portfolio_result: PortfolioResult) -> Iterator[Stack]:
    """The real Prometheus + Alertmanager + local PagerDuty stand-in, scraping a registry that holds a
    recorded per-stock run, a recorded portfolio run, a finished job, API requests and a data load."""
    from adaptrade.data.validate import QualityReport, SymbolQuality
    from adaptrade.monitoring.metrics import Metrics
    from adaptrade.monitoring.record import (
        record_backtest,
        record_portfolio,
        record_quality,
    )
    from adaptrade.settings import Settings
    from tests.monitoring.stack import StackProcesses

    metrics = Metrics(Settings(alert_drawdown_limit=0.15))
    record_backtest(metrics, stock_result, run="stocks-run", seconds=4.0)
    record_portfolio(metrics, portfolio_result, run="portfolio-run", seconds=6.0)
    record_quality(metrics, QualityReport("drop", 3.0, (SymbolQuality("AAA", "a.csv", 10, "2020-01-02", "2020-01-15", 1, 0, 1, 0, 2),)))
    metrics.job_moved(None, "queued")
    metrics.job_moved("queued", "running")
    metrics.job_moved("running", "done")
    metrics.observe_request("GET", "/api/v1/runs", 200, 0.004)
    metrics.observe_request("GET", "/api/v1/runs/{run_id}", 500, 0.02)
    procs = StackProcesses(tmp_path_factory.mktemp("alerting"), metrics)
    try:
        yield procs.start()
    finally:
        procs.stop()
