"""The bar-by-bar curves stored with a run (`run_curves`, schema version 8) on both backends: the average curves
report.html draws for a per-stock run, the account curves of a portfolio run, and an older store migrated."""

from __future__ import annotations

import base64
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from adaptrade.backtest.engine import run_backtest
from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.data.synthetic import generate, synthetic_benchmark
from adaptrade.portfolio.results import PortfolioResult
from adaptrade.reports.html import _account_figures, _drawdown, _normalised
from adaptrade.storage import schema
from adaptrade.storage.runs import RunStore
from adaptrade.strategy.params import StrategyConfig
from tests.storage.test_runs import _rows, _store_at


@pytest.fixture(scope="module")
def late() -> BacktestResult:
    """5 stocks x 900 bars, two of them starting late (the average's count of stocks changes over time)."""
    b = generate([f"S{i:03d}" for i in range(5)], 900, 4)
    valid = b.valid.copy()
    valid[1, :200] = False  # later listings
    valid[3, :450] = False
    b = replace(b, valid=valid, **{f: np.where(valid, getattr(b, f), np.nan) for f in ("open", "high", "low", "close")})
    return build_result(run_backtest(b, StrategyConfig()), synthetic_benchmark(b.dates, 4), "^SYNTH-SPX", settings={"source": "synthetic"})


@pytest.fixture(scope="module")
def portfolio() -> PortfolioResult:
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits

    bars = generate(["AAA", "BBB", "CCC", "DDD"], 800, seed=3)
    cfg = StrategyConfig()
    limits = RiskLimits(kelly_fraction=0.0, max_position=0.5, initial_cash=cfg.initial_cash)
    return build_portfolio_result(run_portfolio_backtest(bars, cfg, limits), synthetic_benchmark(bars.dates, 3), "^SYNTH-SPX")


def _avg(result: BacktestResult) -> list[np.ndarray]:
    """The report's average curves (write_report's whole-universe path), computed here as it does."""
    import warnings

    strat, bh, bench = _normalised(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [np.nanmean(a, axis=0) for a in (strat, bh, bench)]


def _ys(trace: dict) -> np.ndarray:
    """The y values of a report figure's trace (plotly's base64 typed array)."""
    return np.frombuffer(base64.b64decode(trace["y"]["bdata"]), dtype="<f8")


def test_per_stock_curves_are_the_reports_average(store_url: str, late: BacktestResult) -> None:
    with RunStore(store_url) as st:
        rid = st.save(late, {})
    with RunStore(store_url, read_only=True) as st:
        c = st.load_run(rid)["curves"]
    strat, bh, bench = _avg(late)
    assert len(c) == 900 and list(c.columns) == ["date", "strategy", "buy_hold", "benchmark", "drawdown", "benchmark_close"]
    np.testing.assert_array_equal(c["date"].to_numpy(), late.output.bars.dates.astype("datetime64[ns]"))
    np.testing.assert_array_equal(c["strategy"].to_numpy(), strat)
    np.testing.assert_array_equal(c["buy_hold"].to_numpy(), bh)
    np.testing.assert_array_equal(c["benchmark"].to_numpy(), bench)
    np.testing.assert_array_equal(c["drawdown"].to_numpy(), _drawdown(strat))
    np.testing.assert_array_equal(c["benchmark_close"].to_numpy(), late.benchmark_close)
    assert c["strategy"].iloc[0] == 1.0 and (c["drawdown"] <= 0).all() and c["drawdown"].min() < -0.01
    # the late stocks change the mean: it is not the mean of the three early stocks alone
    assert not np.allclose(strat[500:], np.nanmean(_normalised(late)[0][[0, 2, 4]], axis=0)[500:])
    assert _rows(store_url, "run_curves") == 900


def test_portfolio_curves_are_the_account_normalised(store_url: str, portfolio: PortfolioResult) -> None:
    pr = portfolio
    extra = {"orders": pr.orders, "fills": pr.fills, "risk_events": pr.events, "order_history": pr.history, "account": pr.account}
    with RunStore(store_url) as st:
        rid = st.save(pr.result, {}, extra=extra)
        c = st.load_run(rid)["curves"]
    eq = pr.account["equity"].to_numpy()
    assert len(c) == 800 and eq[0] == pr.output.limits.initial_cash
    np.testing.assert_array_equal(c["strategy"].to_numpy(), eq / pr.output.limits.initial_cash)
    np.testing.assert_array_equal(c["drawdown"].to_numpy(), pr.account["drawdown"].to_numpy())
    figure, dd = _account_figures(pr.account, pr.result, "^SYNTH-SPX")  # what report.html draws (800 points: not downsampled)
    account, ew, bench = figure["data"]
    np.testing.assert_array_equal(c["strategy"].to_numpy(), _ys(account))
    np.testing.assert_array_equal(c["buy_hold"].to_numpy(), _ys(ew))
    np.testing.assert_array_equal(c["benchmark"].to_numpy(), _ys(bench))
    np.testing.assert_array_equal(c["drawdown"].to_numpy(), _ys(dd["data"][0]))
    assert c["strategy"].iloc[-1] != 1.0 and c["buy_hold"].iloc[-1] != c["strategy"].iloc[-1]


def test_a_store_of_version_7_migrates_and_keeps_old_runs_readable(store_url: str, late: BacktestResult) -> None:
    rid = _store_at(store_url, 7, late)
    with RunStore(store_url, read_only=True) as st:  # read-only: as it is, no curves table
        assert "run_curves" not in st.backend.tables()
        pd.testing.assert_frame_equal(st.load_run(rid)["stocks"], late.stocks)
    with RunStore(store_url) as st:
        b = st.backend
        assert b.fetchall("SELECT version FROM schema_version") == [(schema.VERSION,)] and schema.VERSION == 8
        assert set(schema.CURVES) <= set(b.columns("run_curves"))
        old = st.load_run(rid)
        assert "curves" not in old  # stored before the curves were: none invented
        pd.testing.assert_frame_equal(old["trades"], late.trades)
        new = st.load_run(st.save(late, {}))
        np.testing.assert_array_equal(new["curves"]["strategy"].to_numpy(), _avg(late)[0])
        st.delete_run(new["id"])
    assert _rows(store_url, "run_curves") == 0 and _rows(store_url, "runs") == 1
