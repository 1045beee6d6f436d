"""Simulated broker: fills, participation cap, limits, cancels, state history, and TWAP/VWAP parents
worked over real minute bars and synthetic U-shaped sessions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptrade.execution.broker import SimulatedBroker, execute_parent
from adaptrade.execution.intraday import (
    read_minutes,
    session_bars,
    session_matrix,
    synthetic_session,
)
from adaptrade.execution.orders import LIMIT, SIDE_BUY, SIDE_SELL
from adaptrade.execution.schedule import profile_from_history, u_shaped_profile


def _check_parent(broker: SimulatedBroker, res, bars) -> None:
    """Child fills sum to the parent's filled quantity; no fill before its order existed; cap respected."""
    log = broker.fill_log()
    kids = {c.order_id for c in res.children}
    mine = log[log["order_id"].isin(kids)]
    assert mine["quantity"].sum() == pytest.approx(res.filled)
    assert res.filled + res.unfilled == pytest.approx(res.parent.quantity)
    for c in res.children:
        f = mine[mine["order_id"] == c.order_id]
        assert (f["timestamp"] >= c.created).all()
        assert f["quantity"].sum() == pytest.approx(c.filled)
    per_bar = mine.groupby("timestamp")["quantity"].sum()
    vol = dict(zip(bars.timestamps, bars.volume))
    assert all(q <= broker.participation * vol[ts] + 1e-6 for ts, q in per_bar.items())


def test_vwap_on_real_minutes_follows_the_past_profile(shared_data_dir) -> None:
    m = read_minutes(shared_data_dir / "ohlcv" / "intraday" / "AMZN_1min_2025-01-13_2025-01-18.csv")
    dates, vol = session_matrix(m)
    prof = profile_from_history(vol[:4], 13)
    bars = session_bars(m, dates[4])
    broker = SimulatedBroker(adv=float(np.nansum(vol[:4], axis=1).mean()), vol_annual=0.3, whole_shares=True)
    res = execute_parent(broker, "AMZN", SIDE_BUY, 20_000, bars, "vwap", prof, 13)
    _check_parent(broker, res, bars)
    assert res.unfilled == 0 and res.parent.status == 2  # filled
    sizes = np.array([c.filled for c in res.children])
    np.testing.assert_allclose(sizes, res.planned, atol=1.0)  # ample liquidity: each child = its profile slice
    assert res.vwap_price == pytest.approx(np.mean(bars.close), rel=0.02)
    h = broker.history(res.parent.order_id)
    assert list(h["status"]) == ["new", "filled"]


def test_twap_on_real_spy_minutes_is_capped_and_reports_the_unfilled_rest(shared_data_dir) -> None:
    m = read_minutes(shared_data_dir / "ohlcv" / "intraday" / "SPY_1min_2021-07-01_2021-08-13.csv")
    dates, _ = session_matrix(m)
    bars = session_bars(m, dates[5])
    broker = SimulatedBroker(participation=0.1)
    qty = 0.2 * bars.volume.sum()  # twice what a 10% participation can take
    res = execute_parent(broker, "SPY", SIDE_SELL, qty, bars, "twap", slices=10, whole_shares=False)
    _check_parent(broker, res, bars)
    assert 0 < res.filled < qty and res.unfilled > 0.4 * qty
    assert broker.history(res.parent.order_id)["status"].tolist() == ["new", "partially_filled", "cancelled"]


def test_vwap_on_a_synthetic_u_shaped_session() -> None:
    bars = synthetic_session("2024-03-08", 100.0, 103.0, 98.0, 101.0, 2_000_000, seed=1)
    assert bars.synthetic and len(bars) == 390
    assert bars.high.max() == 103.0 and bars.low.min() == 98.0 and bars.volume.sum() == pytest.approx(2_000_000)
    assert bars.volume[0] > 2.5 * bars.volume[195]
    broker = SimulatedBroker(whole_shares=True)
    res = execute_parent(broker, "SYN", SIDE_BUY, 50_000, bars, "vwap", u_shaped_profile(13), 13)
    _check_parent(broker, res, bars)
    assert res.unfilled == 0 and all(c.filled == int(c.filled) for c in res.children)
    assert res.children[0].filled > 2 * res.children[6].filled < res.children[-1].filled  # heavy ends


def test_limit_order_waits_for_its_price_then_day_cancel() -> None:
    bars = synthetic_session("2024-03-08", 100.0, 101.0, 99.0, 100.5, 1_000_000, seed=2)
    broker = SimulatedBroker(slippage_bps=0.0)
    o = broker.submit("SYN", SIDE_BUY, 10_000, bars.timestamps[0], 0, LIMIT, 99.0)
    for k in range(len(bars)):
        broker.on_bar("SYN", k, bars)
    assert o.filled > 0 and all(f.price <= 99.0 for f in broker.fills)
    o2 = broker.submit("SYN", SIDE_BUY, 10_000, bars.timestamps[0], 0, LIMIT, 90.0)
    for k in range(len(bars)):
        broker.on_bar("SYN", k, bars)
    broker.cancel(o2.order_id, bars.timestamps[-1])
    assert o2.filled == 0 and broker.history(o2.order_id)["status"].tolist() == ["new", "cancelled"]


def test_bad_order_is_rejected_and_logged() -> None:
    broker = SimulatedBroker()
    o = broker.submit("SYN", SIDE_BUY, -5, "2024-03-08T09:30:00-05:00", 0)
    assert o.status == 4 and broker.history(o.order_id)["status"].tolist() == ["new", "rejected"]
    assert math.isnan(o.avg_price)


def test_session_for_uses_real_minutes_when_present_else_synthetic(shared_data_dir) -> None:
    from adaptrade.execution.intraday import session_for

    d = shared_data_dir / "ohlcv" / "intraday"
    real, prof = session_for("AMZN", "2025-01-17", (0, 0, 0, 0, 0), d)
    assert not real.synthetic and len(real) == 390 and real.timestamps[0].startswith("2025-01-17T09:30")
    assert prof.sum() == pytest.approx(1.0) and prof[0] > prof[6]
    syn, prof2 = session_for("AAPL", "2024-03-08", (170.0, 173.0, 168.0, 172.0, 5e7), d)
    assert syn.synthetic and syn.volume.sum() == pytest.approx(5e7)
    np.testing.assert_allclose(prof2, u_shaped_profile(13))
    broker = SimulatedBroker(whole_shares=True)
    res = execute_parent(broker, "AMZN", SIDE_BUY, 30_000, real, "vwap", prof, 13)
    _check_parent(broker, res, real)


def test_vwap_slices_on_clock_time_like_its_profile(shared_data_dir) -> None:
    """SPY 2021-07-01's file starts at 12:56: each child works in the clock bucket its size was planned
    for, and the buckets before the first bar roll into the first child instead of shifting every slice."""
    from adaptrade.execution.broker import session_minute
    from adaptrade.execution.schedule import bucket_edges

    m = read_minutes(shared_data_dir / "ohlcv" / "intraday" / "SPY_1min_2021-07-01_2021-08-13.csv")
    dates, _ = session_matrix(m)
    bars = session_bars(m, dates[0])
    assert bars.timestamps[0].startswith("2021-07-01T12:56")
    broker = SimulatedBroker(participation=math.inf)
    prof = u_shaped_profile(13)
    res = execute_parent(broker, "SPY", SIDE_BUY, 13_000, bars, "vwap", prof, 13)
    _check_parent(broker, res, bars)
    edges = bucket_edges(13)
    log = broker.fill_log()
    first = int(np.searchsorted(edges, session_minute(bars.timestamps[:1])[0], side="right") - 1)
    assert res.children[0].quantity == pytest.approx(res.planned[: first + 1].sum())
    for c in res.children:
        b = int(np.searchsorted(edges, session_minute(np.array([c.created]))[0], side="right") - 1)
        fills = log[log["order_id"] == c.order_id]
        mins = session_minute(fills["timestamp"].to_numpy())
        assert ((mins >= edges[b]) & (mins < edges[b + 1])).all(), (c.order_id, c.created)
    sizes = [c.quantity for c in res.children[1:]]
    later = res.planned[first + 1:]
    np.testing.assert_allclose(sizes, later, atol=1.0)  # ample liquidity: each later child = its own bucket's size
