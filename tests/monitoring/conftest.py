"""Fixtures of the monitoring tests: one small per-stock and one portfolio result (synthetic data), and the
real alerting stack around a running `adaptrade serve` (started only by the tests that ask for it)."""

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
def serve_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real Prometheus + Alertmanager + local PagerDuty stand-in, scraping a running `adaptrade serve`
    (one per session; the tests make their conditions through its API)."""
    from tests.monitoring.stack import TOKEN, StackProcesses

    procs = StackProcesses(tmp_path_factory.mktemp("alerting"))
    try:
        yield procs.start()
    finally:
        procs.stop()
        serve_log = (procs.work / "serve.log").read_text(errors="replace") if (procs.work / "serve.log").exists() else ""
        assert TOKEN not in serve_log, "the API token leaked into the service's log"
