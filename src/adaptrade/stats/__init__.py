"""The one statistics module: pure functions over return / equity arrays that every layer calls
(per-stock metrics, the portfolio account, research moments and verdicts, the sweep). Conventions
(risk-free rate, drawdown sign, annualisation) are stated once, in `adaptrade.stats.returns`."""

from adaptrade.stats.benchmark import MAX_BENCHMARK_GAP, benchmark_return, value_at_or_before
from adaptrade.stats.overfit import Deflated, Moments, dsr, expected_max_sharpe, moments, psr
from adaptrade.stats.returns import (
    TRADING_DAYS,
    alpha_beta,
    annual_return,
    annual_volatility,
    calmar,
    daily_rf,
    drawdown_series,
    max_drawdown,
    sharpe,
    sharpe_and_volatility,
    simple_returns,
    sortino,
    total_return,
)

__all__ = ["MAX_BENCHMARK_GAP", "TRADING_DAYS", "Deflated", "Moments", "alpha_beta", "annual_return", "annual_volatility",
           "benchmark_return", "calmar", "daily_rf", "drawdown_series", "dsr", "expected_max_sharpe", "max_drawdown",
           "moments", "psr", "sharpe", "sharpe_and_volatility", "simple_returns", "sortino", "total_return", "value_at_or_before"]
