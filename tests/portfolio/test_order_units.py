"""Issue 10 section 1: every order has one unit and its fills never exceed the request in that unit.

A buy is a notional (dollar) order: `quantity` empty, fills' cash (value + commission) <= `notional`.
A sell is a share order: `notional` empty, fills' shares <= `quantity`. `filled` means complete in
the order's own unit. Checked over hypothesis-generated portfolios and over real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.results import ORDER_COLUMNS, PortfolioResult, build_portfolio_result
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig

CONTRACT = ["order_id", "symbol", "side", "quantity", "order_type", "limit_price", "created", "status"]


def check_units(pr: PortfolioResult) -> None:
    """Fills <= request in the order's unit, status in that unit, no fill before creation, no short position."""
    o, f = pr.orders, pr.fills
    assert ORDER_COLUMNS[:8] == CONTRACT
    assert {"notional", "filled_quantity", "filled_notional"} <= set(o.columns)
    buy, sell = o["side"] == "buy", o["side"] == "sell"
    assert o.loc[buy, "quantity"].isna().all() and (o.loc[buy, "notional"] > 0).all()
    assert o.loc[sell, "notional"].isna().all() and (o.loc[sell, "quantity"] > 0).all()
    f = f.assign(cash=f["quantity"] * f["price"] + np.where(f["side"] == "buy", f["commission"], 0.0))
    per = f.groupby("order_id").agg(q=("quantity", "sum"), cash=("cash", "sum"), first=("timestamp", "min"))
    per = per.reindex(o["order_id"]).fillna({"q": 0.0, "cash": 0.0})
    q, cash = per["q"].to_numpy(), per["cash"].to_numpy()
    np.testing.assert_allclose(q, o["filled_quantity"].to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cash, o["filled_notional"].to_numpy(), rtol=1e-9, atol=1e-6)
    b, s = buy.to_numpy(), sell.to_numpy()
    assert (cash[b] <= o["notional"].to_numpy()[b] * (1 + 1e-9) + 1e-9).all(), "a notional order overspent"
    assert (q[s] <= o["quantity"].to_numpy()[s] * (1 + 1e-9) + 1e-9).all(), "a share order overfilled"
    filled = (o["status"] == "filled").to_numpy()
    assert np.allclose(q[s & filled], o["quantity"].to_numpy()[s & filled], rtol=1e-9)
    # a filled notional order has spent its notional, up to less than one more share at its last price
    last_px = f.groupby("order_id")["price"].last().reindex(o["order_id"]).to_numpy()
    left = o["notional"].to_numpy() - cash
    assert (left[b & filled] <= np.nan_to_num(last_px[b & filled], nan=0.0) * 1.01 + 1e-6).all()
    created = o.set_index("order_id")["created"]
    has = per["first"].notna().to_numpy()
    assert (per["first"].to_numpy()[has] > created.to_numpy()[has]).all(), "a fill before its order"
    signed = f.assign(d=np.where(f["side"] == "buy", f["quantity"], -f["quantity"])).sort_values("timestamp", kind="stable")
    assert (signed.groupby("symbol")["d"].cumsum() >= -1e-9).all(), "a position below zero"
    # "unfilled" counts use the order's own unit
    from adaptrade.portfolio.results import incomplete

    short = (b & (cash < o["notional"].to_numpy() * (1 - 1e-9))) | (s & (q < o["quantity"].to_numpy() * (1 - 1e-9)))
    np.testing.assert_array_equal(incomplete(o).to_numpy(), short)
    assert pr.account_summary()["orders_unfilled"] == int((short & (o["status"] == "cancelled").to_numpy()).sum())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), max_position=st.floats(0.05, 0.6),
       participation=st.sampled_from([1e-5, 1e-3, 0.1]), whole=st.booleans(), limit_bps=st.sampled_from([0.0, 5.0, 1e9]),
       gtc=st.booleans(), max_bars=st.integers(1, 5))
def test_fills_never_exceed_the_request_in_its_unit(n: int, seed: int, max_position: float, participation: float,
                                                    whole: bool, limit_bps: float, gtc: bool, max_bars: int) -> None:
    bars = generate([f"S{i}" for i in range(n)], 400, seed=seed)
    lim = RiskLimits(kelly_fraction=0.0, max_position=max_position, participation=participation,
                     limit_above_bps=limit_bps, limit_gtc=gtc, max_order_bars=max_bars, stop_loss_pct=0.05)
    pr = build_portfolio_result(run_portfolio_backtest(bars, StrategyConfig(whole_shares=whole), lim), None, "none")
    assert len(pr.orders) > 0
    check_units(pr)


def test_a_notional_buy_never_reports_more_shares_than_it_asked_for() -> None:
    """The reported case: quantity was notional / signal close, so fills at a lower open showed more shares."""
    bars = generate([f"S{i}" for i in range(8)], 1000, seed=7)
    pr = build_portfolio_result(run_portfolio_backtest(bars, StrategyConfig(), RiskLimits(kelly_fraction=0.0, max_position=0.2)),
                                None, "none")
    o = pr.orders
    buys = o[o["side"] == "buy"]
    assert len(buys) > 10 and buys["quantity"].isna().all()
    assert not (o["filled_quantity"] > o["quantity"] * (1 + 1e-9)).any()
    check_units(pr)


def test_units_hold_on_real_data(shared_data_dir) -> None:
    names = ["AAPL", "MSFT", "INTC", "CSCO", "AMZN", "QCOM", "ADBE", "AMGN", "COST", "PEP", "PLUG", "FCEL"]
    frames = {s: pd.read_csv(shared_data_dir / "ohlcv" / "daily" / f"{s}.csv.gz", parse_dates=["date"]).set_index("date")
              .loc["2012-01-01":"2016-12-31"] for s in names if (shared_data_dir / "ohlcv" / "daily" / f"{s}.csv.gz").exists()}
    bars = Bars.from_frames(frames).adjusted()
    for lim in (RiskLimits(kelly_fraction=0.0, max_position=0.2), RiskLimits(kelly_fraction=0.0, max_position=0.3, participation=1e-4)):
        pr = build_portfolio_result(run_portfolio_backtest(bars, StrategyConfig(), lim), None, "none")
        assert len(pr.orders) > 20
        check_units(pr)
