"""No look-ahead in portfolio mode: prices AND volumes after a cut are changed, on configurations
that really trade before the cut (limit and market entries, partial fills, stops, paper trades),
and every decision up to the cut must stay the same: each order's side, quantity, notional, type,
time in force, limit price, creation bar, reason and cost estimate; every fill, order state change,
trade, risk event and parameter change at or before the cut; the account curves.

Orders are compared as whole rows (every column but the five that legitimately move after the cut:
status, filled quantity, filled notional, average fill price, last update), so the test does not depend on which
unit (shares or dollars) an order is expressed in.
"""

from __future__ import annotations

import numpy as np
import pytest

from adaptrade.backtest.kernel import C_T, T_EXIT_T
from adaptrade.data.synthetic import generate
from adaptrade.execution.orders import LIMIT
from adaptrade.portfolio import layout as L
from adaptrade.portfolio.engine import PortfolioOutput, run_portfolio_backtest
from adaptrade.risk.limits import RiskLimits
from adaptrade.strategy.params import StrategyConfig
from tests.helpers import perturb_after

# order columns that change after creation (fills, cancels); every other column is a decision made at creation
EVOLVING = {L.O_STATUS, L.O_FILLED, L.O_AVG_PX, L.O_LAST_T, L.O_FILLED_NOTIONAL}
AT_CREATION = [c for c in range(L.ORDER_FIELDS) if c not in EVOLVING]

BARS = generate([f"S{i}" for i in range(6)], 700, seed=2)
CFG = StrategyConfig(buy=35.0, sell=65.0)  # wide thresholds: many signals
CASES = {
    # every entry a limit order (day), Kelly sizing after one closed trade, participation cap binding
    "limit_day_kelly": (CFG, RiskLimits(kelly_min_trades=1, limit_above_bps=0.0, participation=0.02)),
    # limit (GTC) and market entries mixed, multi-bar partial fills
    "mixed_gtc": (CFG, RiskLimits(kelly_min_trades=1, limit_above_bps=10.0, limit_gtc=True, participation=0.005)),
    # fixed sizing, close-fill strategy config (the portfolio loop still fills from the next bar), whole shares
    "fixed_size_whole": (StrategyConfig(buy=35.0, sell=65.0, whole_shares=True, fill="close"),
                         RiskLimits(kelly_fraction=0.0, max_position=0.3, limit_above_bps=15.0, stop_loss_pct=0.04)),
}


def _upto(rows: np.ndarray, col: int, cut: int) -> np.ndarray:
    return rows[rows[:, col] <= cut]


def assert_same_past(a: PortfolioOutput, b: PortfolioOutput, cut: int) -> None:
    """Everything decided or done at or before bar `cut` is identical in the two runs."""
    s = slice(0, cut + 1)
    np.testing.assert_array_equal(a.curves[:, s], b.curves[:, s], err_msg="account curves")
    np.testing.assert_array_equal(a.pnl[:, s], b.pnl[:, s], err_msg="per-stock P&L")
    np.testing.assert_array_equal(a.signal[:, s], b.signal[:, s], err_msg="signals")
    np.testing.assert_array_equal(a.in_market[:, s], b.in_market[:, s], err_msg="positions")
    oa, ob = _upto(a.orders, L.O_CREATED_T, cut), _upto(b.orders, L.O_CREATED_T, cut)
    np.testing.assert_array_equal(oa[:, AT_CREATION], ob[:, AT_CREATION], err_msg="orders created up to the cut")
    np.testing.assert_array_equal(_upto(a.fills, L.F_T, cut), _upto(b.fills, L.F_T, cut), err_msg="fills")
    np.testing.assert_array_equal(_upto(a.history, L.H_T, cut), _upto(b.history, L.H_T, cut), err_msg="order states")
    closed = lambda tr: tr[(tr[:, T_EXIT_T] >= 0) & (tr[:, T_EXIT_T] <= cut)]  # noqa: E731
    np.testing.assert_array_equal(closed(a.trades), closed(b.trades), err_msg="trades closed up to the cut")
    np.testing.assert_array_equal(_upto(a.events, L.RE_T, cut), _upto(b.events, L.RE_T, cut), err_msg="risk events")
    np.testing.assert_array_equal(_upto(a.changes, C_T, cut), _upto(b.changes, C_T, cut), err_msg="parameter changes")


def _cuts(out: PortfolioOutput) -> list[int]:
    """Cut exactly on bars where an order (a limit entry first) is created, so the order placed at the cut
    is compared too, plus the bar before a fill (its price and size must not leak backwards)."""
    o = out.orders
    lim = np.sort(o[o[:, L.O_TYPE] == LIMIT, L.O_CREATED_T].astype(int))
    created = np.sort(o[:, L.O_CREATED_T].astype(int))
    fill_t = np.sort(out.fills[:, L.F_T].astype(int))
    picks = [lim[len(lim) // 3], lim[2 * len(lim) // 3], created[len(created) // 2], fill_t[len(fill_t) // 2] - 1]
    return sorted({int(t) for t in picks if 0 < t < out.bars.n_bars - 2})


@pytest.mark.parametrize("case", sorted(CASES))
def test_future_prices_and_volumes_do_not_change_past_orders_fills_or_trades(case: str) -> None:
    cfg, lim = CASES[case]
    base = run_portfolio_backtest(BARS, cfg, lim)
    cuts = _cuts(base)
    assert len(cuts) >= 3
    for j, cut in enumerate(cuts):
        o = _upto(base.orders, L.O_CREATED_T, cut)
        # the run really trades before the cut: the comparison is not between empty tables
        assert len(o) >= 4 and (o[:, L.O_TYPE] == LIMIT).any(), f"{case}: too few orders before bar {cut}"
        assert len(_upto(base.fills, L.F_T, cut)) >= 3
        real = base.trades[(base.trades[:, L.PT_PAPER] == 0) & (base.trades[:, T_EXIT_T] >= 0) & (base.trades[:, T_EXIT_T] <= cut)]
        assert len(real) >= 1
        other = run_portfolio_backtest(perturb_after(BARS, cut, np.random.default_rng(100 + j)), cfg, lim)
        assert_same_past(base, other, cut)
        # guard against a vacuous comparison: the changed future does trade differently
        assert not np.array_equal(base.curves[0, cut + 1 :], other.curves[0, cut + 1 :])


def test_an_order_created_at_the_cut_keeps_its_limit_price_and_size() -> None:
    """The order placed at the cut's close is priced from that close, never from the next bar."""
    cfg, lim = CASES["limit_day_kelly"]
    base = run_portfolio_backtest(BARS, cfg, lim)
    limits = base.orders[base.orders[:, L.O_TYPE] == LIMIT]
    assert len(limits) >= 5
    for j, row in enumerate(limits[:: max(1, len(limits) // 5)]):
        cut = int(row[L.O_CREATED_T])
        if cut >= BARS.n_bars - 2:
            continue
        other = run_portfolio_backtest(perturb_after(BARS, cut, np.random.default_rng(j)), cfg, lim)
        mine = other.orders[(other.orders[:, L.O_CREATED_T] == cut) & (other.orders[:, L.O_SYM] == row[L.O_SYM])]
        assert len(mine) == 1
        np.testing.assert_array_equal(mine[0, AT_CREATION], row[AT_CREATION])
        assert row[L.O_LIMIT] == BARS.close[int(row[L.O_SYM]), cut]  # the signal bar's close
