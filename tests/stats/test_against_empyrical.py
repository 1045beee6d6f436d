"""Issue 10 section 3: the one statistics module agrees with empyrical-reloaded on real data to 1e-10."""

from __future__ import annotations

from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from adaptrade import stats

RF = 0.03  # an annual risk-free rate, to exercise the convention


def _real(shared_data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    a = pd.read_csv(shared_data_dir / "ohlcv" / "daily" / "AAPL.csv.gz", parse_dates=["date"]).set_index("date")["adj_close"]
    b = pd.read_csv(shared_data_dir / "benchmark" / "SPY.csv", parse_dates=["date"]).set_index("date")["close"]
    df = pd.concat([a, b], axis=1, keys=["s", "b"]).loc["2010-01-01":"2019-12-31"].dropna()
    r = df.pct_change().dropna()
    return r["s"].to_numpy(), r["b"].to_numpy()


@pytest.mark.parametrize("rf", [0.0, RF])
def test_each_measure_agrees_with_empyrical(shared_data_dir: Path, rf: float) -> None:
    r, b = _real(shared_data_dir)
    rf_d = stats.daily_rf(rf)
    assert rf_d == pytest.approx((1 + rf) ** (1 / 252) - 1, abs=1e-16)
    close = lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)  # noqa: E731
    close(stats.sharpe(r, rf_d), ep.sharpe_ratio(r, risk_free=rf_d))
    close(stats.sortino(r, rf_d), ep.sortino_ratio(r, required_return=rf_d))
    close(stats.annual_return(r), ep.annual_return(r))
    close(stats.annual_volatility(r), ep.annual_volatility(r))
    close(stats.max_drawdown(r), ep.max_drawdown(r))
    assert stats.max_drawdown(r) < 0  # one sign: negative
    close(stats.calmar(r), ep.calmar_ratio(r))
    alpha, beta = stats.alpha_beta(r, b, rf_d)
    ea, eb = ep.alpha_beta(r, b, risk_free=rf_d)
    close(alpha, ea)
    close(beta, eb)
    close(beta, ep.beta(r, b, risk_free=rf_d))
    close(alpha, ep.alpha(r, b, risk_free=rf_d))
    close(stats.total_return(r), ep.cum_returns_final(r))
    assert 0.5 < beta < 2.0 and alpha > 0  # AAPL over the 2010s


def test_drawdown_series_and_simple_returns(shared_data_dir: Path) -> None:
    r, _ = _real(shared_data_dir)
    v = np.concatenate([[1.0], np.cumprod(1 + r)])
    np.testing.assert_allclose(stats.simple_returns(v), r, rtol=1e-10)
    dd = stats.drawdown_series(v)
    np.testing.assert_allclose(dd[1:], ep.stats.drawdown_series(r), rtol=1e-10, atol=1e-12)
    assert dd.min() == pytest.approx(stats.max_drawdown(r), abs=1e-12)


def test_benchmark_lookup_gap_rule() -> None:
    s = np.array([1.0, np.nan, np.nan, 2.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 3.0])
    np.testing.assert_array_equal(stats.value_at_or_before(s, np.array([0, 2, 3, 8, 9, 10])), [1.0, 1.0, 2.0, 2.0, np.nan, 3.0])
    assert np.isnan(stats.benchmark_return(s, 9, 10))  # a stale start is no start
