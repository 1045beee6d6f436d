"""Helpers of the compiled portfolio loop: order creation and cancel, paper fills, the change log and
entry sizing through the risk rules (each refusal or resize logged with its rule)."""

from __future__ import annotations

import numpy as np
from numba import njit

from adaptrade.backtest.kernel import (
    write_changes,
)
from adaptrade.portfolio.fills import (
    BOOK_CASH,
    BOOK_RESERVED,
    learn_sizes,
    log_event,
    log_hist,
    record_trade,
)
from adaptrade.portfolio.layout import (
    ACT_ADV,
    ACT_BARS_WORKED,
    ACT_FILLED,
    ACT_ID,
    ACT_LIMIT,
    ACT_MAX_BARS,
    ACT_QTY,
    ACT_REM_NOTIONAL,
    ACT_REM_QTY,
    ACT_SIDE,
    ACT_TYPE,
    ACT_VOL,
    N_CHANGES,
    N_ORDERS,
    O_AVG_PX,
    O_CREATED_T,
    O_EST_COST_BPS,
    O_EST_QTY,
    O_FILLED_NOTIONAL,
    O_FILLED,
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
    POS_AVG_LOSS,
    POS_AVG_WIN,
    POS_PAPER,
    POS_PAPER_PENDING,
    POS_SHARES,
)
from adaptrade.execution.orders import CANCELLED, NEW
from adaptrade.risk.limits import (
    LIM_CORR_LIMIT,
    LIM_CORR_WINDOW,
    LIM_MAX_GROSS,
    LIM_MAX_POSITION,
)
from adaptrade.risk.rules import (
    ACC_BREAKER,
    RULE_BREAKER,
    RULE_CASH,
    RULE_MAX_GROSS,
    RULE_MAX_POSITION,
    RULE_TOO_SMALL,
    avg_correlation,
    cap,
    correlation_scale,
    kelly_weight,
    too_small,
)
from adaptrade.strategy.kernel import close_position, open_position
from adaptrade.strategy.params import P_COMMISSION, P_SLIPPAGE
from adaptrade.strategy.state import (
    E_N_CHANGES,
    S_EMA_WIN,
    S_ENTRY_PRICE,
    S_ENTRY_T,
    S_N_TRADES,
)


@njit(cache=True)
def log_changes(changes: np.ndarray, counts: np.ndarray, event: np.ndarray, i: int, t: int) -> None:
    """Copy the parameter changes of one strategy event into the change log."""
    counts[N_CHANGES] = write_changes(changes, int(counts[N_CHANGES]), event, i, t)
    event[E_N_CHANGES] = 0.0


@njit(cache=True)
def paper_fill(i: int, t: int, base: float, vol_t: float, pos_i: np.ndarray, state: np.ndarray, params: np.ndarray,
                trades: np.ndarray, counts: np.ndarray, event: np.ndarray) -> None:
    """The strategy follows a signal the account did not take, on paper (1 share, same costs), to keep learning."""
    slip, comm = params[P_SLIPPAGE], params[P_COMMISSION]
    if pos_i[POS_PAPER_PENDING] > 0.0:
        px = base * (1.0 + slip)
        open_position(state, t, 1.0, px, px * (1.0 + comm))
        pos_i[POS_PAPER] = 1.0
    else:
        entry_t, entry_px = state[S_ENTRY_T], state[S_ENTRY_PRICE]
        px = base * (1.0 - slip)
        ret = close_position(state, params, px * (1.0 - comm), vol_t, event)
        learn_sizes(pos_i, ret, params)
        record_trade(trades, counts, i, entry_t, t, entry_px, px, 0.0, 0.0, ret, 1.0, 0.0)
        pos_i[POS_PAPER] = 0.0
    pos_i[POS_PAPER_PENDING] = 0.0


@njit(cache=True)
def new_order(i: int, t: int, side: int, otype: int, tif: int, limit: float, amount: float, est_qty: float,
               reason: int, max_bars: float, adv: float, vol: float, cost_bps: float, act_i: np.ndarray,
               orders: np.ndarray, hist: np.ndarray, counts: np.ndarray) -> None:
    """Create an order at bar t's close (works from the next bar on) and make it the stock's active order.

    `amount` is the request in the order's unit: a buy is a notional order (cash it may spend, commission
    included), a sell a share order; `est_qty` is the share estimate the cost estimate was made from."""
    k = int(counts[N_ORDERS])
    qty = amount if side < 0 else np.nan
    notional = amount if side > 0 else np.nan
    if k < orders.shape[0]:
        row = orders[k]
        row[O_SYM], row[O_SIDE], row[O_TYPE], row[O_TIF], row[O_LIMIT] = i, side, otype, tif, limit
        row[O_QTY], row[O_NOTIONAL], row[O_CREATED_T], row[O_STATUS], row[O_FILLED] = qty, notional, t, NEW, 0.0
        row[O_AVG_PX], row[O_REASON], row[O_LAST_T], row[O_EST_COST_BPS] = np.nan, reason, t, cost_bps
        row[O_FILLED_NOTIONAL], row[O_EST_QTY] = 0.0, est_qty
    counts[N_ORDERS] = k + 1
    log_hist(hist, counts, float(k), t, NEW, 0.0, 1)
    act_i[:] = 0.0
    act_i[ACT_ID], act_i[ACT_SIDE], act_i[ACT_TYPE], act_i[ACT_LIMIT] = k, side, otype, limit
    act_i[ACT_REM_NOTIONAL] = amount if side > 0 else 0.0
    act_i[ACT_REM_QTY] = amount if side < 0 else 0.0
    act_i[ACT_MAX_BARS] = max_bars
    act_i[ACT_ADV], act_i[ACT_VOL], act_i[ACT_QTY], act_i[ACT_BARS_WORKED] = adv, vol, amount, 0.0


@njit(cache=True)
def cancel(act_i: np.ndarray, t: int, book: np.ndarray, orders: np.ndarray, hist: np.ndarray, counts: np.ndarray) -> None:
    """Cancel the stock's active order at bar t's close; a buy's unused cash reservation is released."""
    k = int(act_i[ACT_ID])
    log_hist(hist, counts, float(k), t, CANCELLED, act_i[ACT_FILLED], 1)
    if k < orders.shape[0]:
        orders[k, O_STATUS] = CANCELLED
        orders[k, O_LAST_T] = t
    if act_i[ACT_SIDE] > 0:
        book[BOOK_RESERVED] -= act_i[ACT_REM_NOTIONAL]
    act_i[ACT_ID] = -1.0


@njit(cache=True)
def size_entry(i: int, t: int, eq: float, exposure: float, st: np.ndarray, pos: np.ndarray, act: np.ndarray,
                book: np.ndarray, acct: np.ndarray, ret: np.ndarray, risk: np.ndarray, events: np.ndarray,
                counts: np.ndarray, held: np.ndarray) -> float:
    """Entry weight (share of equity) after every risk rule; each refusal or resize is logged with its rule."""
    w0, rule = kelly_weight(st[S_EMA_WIN], pos[i, POS_AVG_WIN], pos[i, POS_AVG_LOSS], st[S_N_TRADES], risk)
    if acct[ACC_BREAKER] != 0.0:
        log_event(events, counts, t, i, RULE_BREAKER, w0, 0.0)
        return 0.0
    if rule != 0:
        log_event(events, counts, t, i, rule, w0, 0.0)
        return 0.0
    w, r = cap(w0, risk[LIM_MAX_POSITION], RULE_MAX_POSITION)
    if r != 0:
        log_event(events, counts, t, i, r, w0, w)
    if risk[LIM_CORR_LIMIT] < 1.0:
        nh = 0
        for j in range(pos.shape[0]):
            if pos[j, POS_SHARES] > 0.0 or (act[j, ACT_ID] >= 0.0 and act[j, ACT_SIDE] > 0.0):
                held[nh] = j
                nh += 1
        if nh > 0:
            s, r = correlation_scale(avg_correlation(ret, i, held, nh, t, int(risk[LIM_CORR_WINDOW])), risk)
            if r != 0:
                log_event(events, counts, t, i, r, w, w * s)
                w *= s
    w1, r = cap(w, (risk[LIM_MAX_GROSS] * eq - exposure) / eq, RULE_MAX_GROSS)
    if r != 0:
        log_event(events, counts, t, i, r, w, w1)
    w2, r = cap(w1, (book[BOOK_CASH] - book[BOOK_RESERVED]) / eq, RULE_CASH)
    if r != 0:
        log_event(events, counts, t, i, r, w1, w2)
    if w2 > 0.0 and too_small(w2, risk):
        log_event(events, counts, t, i, RULE_TOO_SMALL, w2, 0.0)
        return 0.0
    return w2
