"""Issue 10 section 2: portfolio mode reports the account (beside equal-weight buy & hold of the universe
and the benchmark over the same dates); per-stock rows are attribution, never beat nor recommended."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from adaptrade.data.synthetic import generate, synthetic_benchmark
from adaptrade.portfolio.account import ATTRIBUTION_COLUMNS, equal_weight_buy_hold
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.results import build_portfolio_result
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adaptrade", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("acct")
    r = _cli("backtest", "--mode", "portfolio", "--stocks", "10", "--bars", "1200", "--seed", "3", "--out", str(d / "out"),
             "--db", str(d / "runs.duckdb"), cwd=d)
    assert r.returncode == 0, r.stderr
    return d, r.stdout


def test_summary_aggregate_is_the_account(run: tuple[Path, str]) -> None:
    d, stdout = run
    doc = json.loads((d / "out" / "summary.json").read_text())
    agg = doc["aggregate"]
    account = pd.read_csv(d / "out" / "account.csv")
    eq = account["equity"].to_numpy()
    assert agg["mode"] == "portfolio"
    assert agg["total_return"] == pytest.approx(eq[-1] / eq[0] - 1.0, rel=1e-12)  # not a mean of attribution rows
    assert "mean_return" not in agg and "beat_benchmark" not in agg and "recommended" not in agg
    r = eq[1:] / eq[:-1] - 1.0
    assert agg["sharpe"] == pytest.approx(ep.sharpe_ratio(r), rel=1e-10)
    assert agg["max_drawdown"] == pytest.approx(ep.max_drawdown(r), rel=1e-10) and agg["max_drawdown"] <= 0
    for k in ("annual_return", "annual_volatility", "sortino", "alpha", "beta", "exposure", "turnover"):
        assert k in agg, k
    ew, bm = agg["equal_weight_buy_hold"], agg["benchmark"]
    assert ew["total_return"] is not None and bm["total_return"] is not None and bm["symbol"]
    assert agg["start"] == doc["settings"]["start"] and agg["end"] == doc["settings"]["end"]
    # the terminal prints the same account and benchmark figures
    assert f"{agg['total_return'] * 100:+.2f}%" in stdout and f"{bm['total_return'] * 100:+.2f}%" in stdout
    assert "Kelly warm-up" in stdout


def test_attribution_rows_are_never_beat_or_recommended(run: tuple[Path, str]) -> None:
    d, _ = run
    s = pd.read_csv(d / "out" / "stocks.csv")
    assert not s["recommended"].any() and s["outperformance"].isna().all()
    a = pd.read_csv(d / "out" / "attribution.csv")
    assert list(a.columns) == ATTRIBUTION_COLUMNS
    acct = json.loads((d / "out" / "summary.json").read_text())["aggregate"]
    assert a["contribution"].sum() == pytest.approx(acct["total_return"], abs=1e-9)  # contributions add up
    page = (d / "out" / "report.html").read_text()
    assert "beat benchmark" not in page and "equal-weight buy &amp; hold" in page
    assert "Kelly warm-up" in page and "out of the market for" in page  # the report says how long the warm-up lasted


def test_runs_list_has_mode_and_the_account_return(run: tuple[Path, str]) -> None:
    from adaptrade.storage.runs import RunStore

    d, _ = run
    with RunStore(d / "runs.duckdb", read_only=True) as rs:
        runs = rs.list_runs()
    acct = json.loads((d / "out" / "summary.json").read_text())["aggregate"]
    assert runs["mode"].tolist() == ["portfolio"]
    assert runs["account_return"].iloc[0] == pytest.approx(acct["total_return"])
    r = subprocess.run([sys.executable, "-m", "adaptrade", "runs", "list", "--db", str(d / "runs.duckdb")], capture_output=True,
                       text=True, env={**__import__("os").environ, "COLUMNS": "200"})
    assert r.returncode == 0 and f"{acct['total_return'] * 100:+.2f}%" in r.stdout and "portf." in r.stdout


def test_equal_weight_buy_hold_and_account_alpha_beta() -> None:
    bars = generate([f"S{i}" for i in range(4)], 900, seed=2)
    bench = synthetic_benchmark(bars.dates, 2)
    pr = build_portfolio_result(run_portfolio_backtest(bars, StrategyConfig(), RiskLimits(kelly_fraction=0.0, max_position=0.3)),
                                bench, "B", risk_free_rate=0.02)
    ew = equal_weight_buy_hold(bars, 100.0, 0.0, 0.0)
    expected = sum(25.0 * bars.close[i] / bars.close[i, 0] for i in range(4))
    np.testing.assert_allclose(ew, expected, rtol=1e-12)
    agg = pr.aggregate()
    eq = pr.output.equity
    r, br = eq[1:] / eq[:-1] - 1, bench[1:] / bench[:-1] - 1
    rf_d = (1.02) ** (1 / 252) - 1
    a, b = ep.alpha_beta(r, br, risk_free=rf_d)
    assert agg["alpha"] == pytest.approx(a, rel=1e-10) and agg["beta"] == pytest.approx(b, rel=1e-10)
    assert agg["sharpe"] == pytest.approx(ep.sharpe_ratio(r, risk_free=rf_d), rel=1e-10)  # the account uses risk_free_rate
