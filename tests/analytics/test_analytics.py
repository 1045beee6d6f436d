"""Analytics of stored runs on both backends: returns, rolling figures and drawdowns agree with
empyrical-reloaded on the same equity; attribution sums to the account return; the CLI writes the
tax files with the issue's columns."""

from __future__ import annotations

from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.analytics import data, run
from adaptrade.analytics.attribution import UNATTRIBUTED
from adaptrade.backtest.aggregate import aggregate
from adaptrade.storage.runs import RunStore
from tests.storage.test_runs import _result


@pytest.fixture(scope="module")
def res() -> object:
    return _result(8, 900, seed=5)


def _stored(store_url: str, res: object) -> tuple[str, data.RunData]:
    with RunStore(store_url) as st:
        rid = st.save(res, aggregate(res.stocks))  # type: ignore[attr-defined]
    return rid, data.load(store_url, rid)


def _account(res: object) -> pd.Series:
    """The equal-weight book of the all-in strategies, computed independently in pandas."""
    eq = res.equity_long().pivot(index="date", columns="symbol", values="equity")  # type: ignore[attr-defined]
    growth = (eq / eq.bfill().iloc[0]).ffill().fillna(1.0)
    return growth.mean(axis=1)


def test_returns_and_rolling_agree_with_empyrical(store_url: str, res: object) -> None:
    _, rd = _stored(store_url, res)
    t = run.tables(rd, "returns")
    acct = _account(res)
    rets = acct.pct_change().dropna()
    d = t["returns_daily"][t["returns_daily"]["symbol"] == "ACCOUNT"].set_index(pd.to_datetime(t["returns_daily"]["date"][t["returns_daily"]["symbol"] == "ACCOUNT"]))
    np.testing.assert_allclose(d["ret"].to_numpy(), rets.to_numpy(), rtol=0, atol=1e-12)
    for w in (63, 252):
        vol = empyrical.roll_annual_volatility(rets, window=w)
        sr = empyrical.roll_sharpe_ratio(rets, window=w)
        np.testing.assert_allclose(d[f"vol_{w}"].to_numpy()[w - 1:], np.asarray(vol)[-len(d) + w - 1:], rtol=1e-9)
        np.testing.assert_allclose(d[f"sharpe_{w}"].to_numpy()[w - 1:], np.asarray(sr)[-len(d) + w - 1:], rtol=1e-8)
        assert d[f"vol_{w}"].iloc[: w - 1].isna().all()
    m = t["returns_monthly"][t["returns_monthly"]["symbol"] == "ACCOUNT"]["ret"].to_numpy()
    y = t["returns_yearly"][t["returns_yearly"]["symbol"] == "ACCOUNT"]["ret"].to_numpy()
    np.testing.assert_allclose(m, empyrical.aggregate_returns(rets, "monthly").to_numpy(), atol=1e-12)
    np.testing.assert_allclose(y, empyrical.aggregate_returns(rets, "yearly").to_numpy(), atol=1e-12)
    sym = res.stocks["symbol"].iloc[0]  # type: ignore[attr-defined]
    eq = res.equity_long()  # type: ignore[attr-defined]
    srets = eq[eq["symbol"] == sym]["equity"].pct_change().dropna().to_numpy()
    np.testing.assert_allclose(t["returns_daily"][t["returns_daily"]["symbol"] == sym]["ret"].to_numpy(), srets, atol=1e-12)


def test_drawdowns_agree_with_empyrical(store_url: str, res: object) -> None:
    _, rd = _stored(store_url, res)
    t = run.tables(rd, "drawdowns", worst=3)
    acct = _account(res)
    rets = acct.pct_change().dropna()
    eps = t["drawdowns"]
    assert eps["depth"].min() == pytest.approx(empyrical.max_drawdown(rets), abs=1e-12)
    under = t["underwater"]["underwater"].to_numpy()
    np.testing.assert_allclose(under, (acct / acct.cummax() - 1).to_numpy(), atol=1e-12)
    assert len(t["drawdowns_worst"]) == 3 and t["drawdowns_worst"]["depth"].is_monotonic_increasing
    # episodes: each starts at a peak, its trough is the minimum before the recovery, recovery is back at the peak
    a = acct.set_axis(acct.index.strftime("%Y-%m-%d"))
    for e in eps.itertuples():
        end = e.recovery if isinstance(e.recovery, str) else a.index[-1]
        seg = a.loc[e.peak:end]
        assert seg.idxmin() == e.trough and seg.min() / a.loc[e.peak] - 1 == pytest.approx(e.depth, abs=1e-12)
        if isinstance(e.recovery, str):
            assert a.loc[e.recovery] >= a.loc[e.peak] and (seg.iloc[1:-1] < a.loc[e.peak]).all()
    assert (eps["peak"].iloc[1:].to_numpy() >= eps["recovery"].iloc[:-1].to_numpy()).all()


def test_attribution_sums_to_the_account_return(store_url: str, res: object) -> None:
    _, rd = _stored(store_url, res)
    t = run.tables(rd, "attribution")["attribution"]
    acct = t[t["symbol"] == "ACCOUNT"]["contribution"].item()
    parts = t[t["symbol"] != "ACCOUNT"]
    assert abs(parts["contribution"].sum() - acct) < 1e-9
    assert acct == pytest.approx(_account(res).iloc[-1] - 1, abs=1e-12)
    assert acct == pytest.approx(res.stocks["total_return"].mean(), abs=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(parts["exposure_return"] + parts["timing_return"], parts["total_return"], atol=1e-12)
    sec = run.tables(rd, "attribution")["attribution_sectors"]
    assert abs(sec["contribution"].sum() - acct) < 1e-9


def test_portfolio_attribution_names_the_remainder(tmp_path: Path) -> None:
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    cfg = StrategyConfig()
    bars = generate([f"S{i}" for i in range(5)], 1500, 9)
    pr = build_portfolio_result(run_portfolio_backtest(bars, cfg, RiskLimits.off(cfg.initial_cash)), None, "none")
    db = str(tmp_path / "p.duckdb")
    with RunStore(db) as st:
        rid = st.save(pr.result, {"portfolio": pr.account_summary()},
                      extra={"orders": pr.orders, "fills": pr.fills, "account": pr.account, "order_history": pr.history})
    rd = data.load(db, rid)
    t = run.tables(rd, "attribution")["attribution"]
    acct = t[t["symbol"] == "ACCOUNT"]["contribution"].item()
    assert acct == pytest.approx(pr.account["equity"].iloc[-1] / pr.account["equity"].iloc[0] - 1, abs=1e-12)
    assert abs(t[t["symbol"] != "ACCOUNT"]["contribution"].sum() - acct) < 1e-9 and UNATTRIBUTED in t["symbol"].tolist()
    tax = run.tables(rd, "tax")
    realised = tax["tax_lots"][tax["tax_lots"]["disposed"].notna()]
    assert len(realised) > 0 and set(realised["symbol"]) <= set(pr.fills["symbol"])
    sold = pr.fills[pr.fills["side"] == "sell"]
    assert realised["quantity"].sum() == pytest.approx(sold["quantity"].sum())  # every sold share matched to a lot


def test_cli_writes_tax_files_with_the_issue_columns(store_url: str, res: object, tmp_path: Path) -> None:
    from adaptrade.cli import app

    rid, _ = _stored(store_url, res)
    runner = CliRunner()
    r = runner.invoke(app, ["analytics", "tax", rid, "--db", store_url, "--out", str(tmp_path / "tax")])
    assert r.exit_code == 0, r.output
    lots = pd.read_csv(tmp_path / "tax" / "tax_lots.csv")
    summary = pd.read_csv(tmp_path / "tax" / "tax_summary.csv")
    assert list(lots.columns) == ["symbol", "lot_id", "acquired", "disposed", "quantity", "cost_basis", "proceeds", "gain", "term",
                                  "wash_sale_disallowed", "basis_adjustment"]
    assert list(summary.columns) == ["year", "short_term_gain", "long_term_gain", "wash_sale_disallowed", "tax"]
    realised = lots[lots["disposed"].notna()]
    closed = res.trades[res.trades["exit_date"].notna()]  # type: ignore[attr-defined]
    assert realised["gain"].sum() == pytest.approx(closed["pnl"].sum(), rel=1e-9)  # per-stock: all costs in the basis
    for kind in ("returns", "attribution", "drawdowns"):
        for fmt in ("table", "csv", "json"):
            r = runner.invoke(app, ["analytics", kind, rid, "--db", store_url, "--format", fmt])
            assert r.exit_code == 0, (kind, fmt, r.output)
    r = runner.invoke(app, ["analytics", "returns", "nope", "--db", store_url])
    assert r.exit_code == 2 and "unknown run id 'nope'" in r.stderr
    r = runner.invoke(app, ["analytics", "tax", rid, "--db", store_url, "--method", "random"])
    assert r.exit_code == 2 and "unknown lot method" in r.stderr
