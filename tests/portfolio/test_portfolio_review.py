"""Portfolio mode review fixes: reported drawdown vs the breaker's re-based peak, orders in stocks
whose data ends, decisions independent of when a stock's data ends."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.backtest.kernel import T_EXIT_T, T_SYMBOL
from adaptrade.portfolio.engine import run_portfolio_backtest
from adaptrade.portfolio.layout import (
    O_CREATED_T,
    O_EST_COST_BPS,
    O_FILLED_NOTIONAL,
    O_EST_QTY,
    O_LAST_T,
    O_LIMIT,
    O_NOTIONAL,
    O_QTY,
    O_REASON,
    O_SIDE,
    O_STATUS,
    O_SYM,
    O_TIF,
    O_TYPE,
    RE_RULE,
    RE_SYM,
    RE_T,
    PT_EXIT_REASON,
)
from adaptrade.portfolio.results import build_portfolio_result
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.execution.orders import CANCELLED
from adaptrade.risk.limits import RiskLimits
from adaptrade.risk.rules import RULE_RESET, RULE_TRIPPED, RULE_UNFILLED
from adaptrade.strategy.params import StrategyConfig


def test_reported_drawdown_is_from_the_never_reset_high_water_mark() -> None:
    bars = generate([f"S{i}" for i in range(8)], 1500, seed=0, mean_reversion=False)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.3, max_drawdown=0.05, breaker_cooldown=10,
                     stop_loss_pct=0, stop_loss_vol_k=0)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    rules = out.events[:, RE_RULE]
    assert (rules == RULE_TRIPPED).any() and (rules == RULE_RESET).any()  # the breaker trips and re-bases
    eq = out.equity
    true_dd = 1.0 - eq / np.maximum.accumulate(eq)
    np.testing.assert_allclose(out.curves[3], true_dd, atol=1e-12)
    pr = build_portfolio_result(out, None, "none")
    assert abs(pr.account_summary()["max_drawdown"] + true_dd.max()) < 1e-12  # reported drawdowns are negative
    np.testing.assert_allclose(pr.account["drawdown"].to_numpy(), -true_dd, atol=1e-12)


def _truncated(bars: Bars, i: int, t_last: int) -> Bars:
    """`bars` with stock i's data ending at bar t_last (later bars invalid, the calendar goes on)."""
    valid = bars.valid.copy()
    valid[i, t_last + 1:] = False
    return Bars(dates=bars.dates, symbols=bars.symbols, open=bars.open, high=bars.high, low=bars.low,
                close=bars.close, volume=bars.volume, valid=valid)


def test_an_order_in_a_stock_that_stops_trading_expires_and_releases_its_cash() -> None:
    bars = generate([f"S{i}" for i in range(4)], 800, seed=3)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.5, max_gross=0.5, participation=1e-6, limit_above_bps=1e9)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    k = int(np.flatnonzero(out.orders[:, O_SIDE] > 0)[0])
    i, t0 = int(out.orders[k, O_SYM]), int(out.orders[k, O_CREATED_T])
    b2 = _truncated(bars, i, t0 + 1)  # trades one more day after the signal, then stops
    out2 = run_portfolio_backtest(b2, StrategyConfig(), lim)
    o = out2.orders[k]
    assert (int(o[O_SYM]), int(o[O_CREATED_T]), o[O_SIDE]) == (i, t0, 1.0)
    assert o[O_STATUS] == CANCELLED and o[O_FILLED_NOTIONAL] < o[O_NOTIONAL]
    assert int(o[O_LAST_T]) == t0 + lim.max_order_bars  # every calendar bar counts, not only the stock's
    unfilled = out2.events[(out2.events[:, RE_RULE] == RULE_UNFILLED) & (out2.events[:, RE_SYM] == i)]
    assert int(unfilled[0, RE_T]) == t0 + lim.max_order_bars
    # the reservation is released: the other stocks get entries again afterwards
    later = (out2.orders[:, O_SIDE] > 0) & (out2.orders[:, O_CREATED_T] > t0 + lim.max_order_bars)
    assert later.sum() > 0
    # the position bought by the partial fill stays open, marked at the stock's last close
    assert out2.in_market[i, -1]
    assert np.all(out2.pnl[i, t0 + 1:] == out2.pnl[i, t0 + 1])
    open_rows = out2.trades[(out2.trades[:, T_SYMBOL] == i) & (out2.trades[:, T_EXIT_T] == -1)]
    assert len(open_rows) == 1 and open_rows[0, PT_EXIT_REASON] == 3


ORDER_AT_CREATION = [O_SYM, O_SIDE, O_TYPE, O_TIF, O_LIMIT, O_QTY, O_NOTIONAL, O_CREATED_T, O_REASON, O_EST_COST_BPS]


def test_orders_up_to_t0_do_not_depend_on_when_a_stocks_data_ends() -> None:
    bars = generate([f"S{i}" for i in range(4)], 600, seed=3)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.3)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    for side in (1.0, -1.0):  # the stock's data ends at the close where it signalled an entry / an exit
        k = int(np.flatnonzero(out.orders[:, O_SIDE] == side)[0])
        i, t0 = int(out.orders[k, O_SYM]), int(out.orders[k, O_CREATED_T])
        out2 = run_portfolio_backtest(_truncated(bars, i, t0), StrategyConfig(), lim)
        before = out.orders[out.orders[:, O_CREATED_T] <= t0][:, ORDER_AT_CREATION]
        after = out2.orders[out2.orders[:, O_CREATED_T] <= t0][:, ORDER_AT_CREATION]
        np.testing.assert_array_equal(after, before)
        np.testing.assert_array_equal(out2.signal[:, : t0 + 1], out.signal[:, : t0 + 1])


@pytest.mark.wiring
def test_the_compiled_loop_applies_the_shared_order_type_rule() -> None:
    from numba.core.registry import CPUDispatcher

    from adaptrade.portfolio import kernel as portfolio_kernel
    from adaptrade.portfolio.engine import PortfolioFeatures
    from adaptrade.execution import liquidity, orders

    assert isinstance(orders.choose_order_type, CPUDispatcher) and isinstance(liquidity.estimated_cost_bps, CPUDispatcher)
    assert portfolio_kernel.choose_order_type is orders.choose_order_type
    assert portfolio_kernel.estimated_cost_bps is liquidity.estimated_cost_bps
    bars = generate([f"S{i}" for i in range(6)], 500, seed=2)
    lim = RiskLimits(kelly_fraction=0.0, max_position=0.3, limit_above_bps=5.0)
    out = run_portfolio_backtest(bars, StrategyConfig(), lim)
    f = PortfolioFeatures.compute(bars)
    o = out.orders
    assert len(o) > 0 and (o[:, O_TYPE] == orders.LIMIT).any() and (o[:, O_TYPE] == orders.MARKET).any()
    for row in o:
        i, t = int(row[O_SYM]), int(row[O_CREATED_T])
        est = liquidity.estimated_cost_bps(row[O_EST_QTY], f.adv[i, t], f.base.vol[i, t], f.spread[i, t], lim.impact_k)
        assert est == row[O_EST_COST_BPS]
        assert row[O_TYPE] == orders.choose_order_type(row[O_SIDE] < 0, est, lim.limit_above_bps)


@pytest.mark.wiring
def test_per_stock_beside_reuses_the_portfolio_features(monkeypatch) -> None:
    from adaptrade.backtest import engine
    from adaptrade.commands.portfolio import per_stock_beside
    from adaptrade.settings import Settings

    bars = generate([f"S{i}" for i in range(3)], 300, seed=1)
    out = run_portfolio_backtest(bars, StrategyConfig())
    assert out.features is not None
    pr = build_portfolio_result(out, None, "none")
    expected = per_stock_beside(pr, Settings())

    def refuse(*a, **k):
        raise AssertionError("features recomputed")

    monkeypatch.setattr(engine.Features, "compute", classmethod(refuse))
    monkeypatch.setattr(engine.Features, "for_config", classmethod(refuse))
    assert per_stock_beside(pr, Settings()) == expected


@pytest.mark.wiring
def test_one_implementation_each_and_no_dead_slots() -> None:
    from adaptrade.portfolio import fills as portfolio_fills, layout as portfolio_layout, results as portfolio_results
    from adaptrade.execution import broker, orders
    from adaptrade.risk import limits

    assert portfolio_fills.limit_price_fill is orders.limit_price_fill is broker.limit_price_fill
    assert portfolio_results.client_order_id is orders.client_order_id
    for mod, name in ((limits, "RULE_CODE"), (limits, "OrderTypeRule"), (orders, "REASON_ENTRY"),
                      (portfolio_layout, "P_LAST_VALID"), (portfolio_layout, "A_TIF"), (portfolio_layout, "A_CREATED_T"),
                      (portfolio_layout, "A_REASON")):
        assert not hasattr(mod, name), name
    # the shared limit rule on a bar: through the limit at the open, touched in the range, or no fill
    assert orders.limit_price_fill(1, 10.0, 9.5, 11.0, 9.0) == 9.5
    assert orders.limit_price_fill(1, 10.0, 10.5, 11.0, 9.9) == 10.0
    assert np.isnan(orders.limit_price_fill(1, 10.0, 10.5, 11.0, 10.1))
    assert orders.limit_price_fill(-1, 10.0, 10.5, 11.0, 9.0) == 10.5
    assert orders.limit_price_fill(-1, 10.0, 9.5, 10.2, 9.0) == 10.0
