"""Compiled daily fill model of the portfolio loop: works one stock's active order against bar t
(market at the open, limit if the range crosses, participation cap, impact, costs), records fills and
order states, and feeds entries/exits to the strategy state (open_position / close_position)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.backtest.kernel import (
    T_ENTRY_PRICE,
    T_ENTRY_T,
    T_EXIT_PRICE,
    T_EXIT_T,
    T_PNL,
    T_RETURN,
    T_SHARES,
    T_SYMBOL,
)
from adaptrade.portfolio.layout import (
    ACT_ADV,
    ACT_BARS_WORKED,
    ACT_FILLED,
    ACT_FILLED_NOTIONAL,
    ACT_FILLED_VALUE,
    ACT_ID,
    ACT_LIMIT,
    ACT_MAX_BARS,
    ACT_QTY,
    ACT_REM_NOTIONAL,
    ACT_REM_QTY,
    ACT_SIDE,
    ACT_TYPE,
    ACT_VOL,
    F_COMMISSION,
    F_IMPACT_BPS,
    F_ORDER,
    F_PX,
    F_QTY,
    F_SIDE,
    F_SYM,
    F_T,
    H_FILLED,
    H_ORDER,
    H_STATUS,
    H_T,
    H_WHEN,
    N_EVENTS,
    N_FILLS,
    N_HIST,
    N_TRADES,
    O_AVG_PX,
    O_FILLED,
    O_FILLED_NOTIONAL,
    O_LAST_T,
    O_STATUS,
    POS_AVG_LOSS,
    POS_AVG_WIN,
    POS_COST,
    POS_ENTRY_T,
    POS_EXIT_COST,
    POS_EXIT_PROCEEDS,
    POS_EXITING,
    POS_REALIZED,
    POS_SHARES,
    RE_AFTER,
    RE_BEFORE,
    RE_RULE,
    RE_SYM,
    RE_T,
    PT_EXIT_REASON,
    PT_PAPER,
)
from adaptrade.execution.liquidity import impact_fraction, participation_cap
from adaptrade.execution.orders import (
    CANCELLED,
    FILLED,
    LIMIT,
    PARTIAL,
    limit_price_fill,
)
from adaptrade.risk.limits import LIM_IMPACT_K, LIM_PARTICIPATION
from adaptrade.risk.rules import RULE_UNFILLED
from adaptrade.strategy.kernel import close_position, open_position
from adaptrade.strategy.params import P_ALPHA, P_COMMISSION, P_SLIPPAGE, P_WHOLE_SHARES
from adaptrade.strategy.state import E_PNL, E_RETURN, S_ENTRY_PRICE, S_ENTRY_T, S_SHARES

BOOK_CASH, BOOK_RESERVED, BOOK_HWM = 0, 1, 2  # the account's cash box (and the drawdown's high-water mark)
BOOK_SIZE = 3


@njit(cache=True)
def log_hist(hist: np.ndarray, counts: np.ndarray, oid: float, t: int, status: int, filled: float, when: int) -> None:
    """Append one order state change (grow-and-rerun: rows past the buffer are counted, not written)."""
    k = int(counts[N_HIST])
    if k < hist.shape[0]:
        hist[k, H_ORDER] = oid
        hist[k, H_T] = t
        hist[k, H_STATUS] = status
        hist[k, H_FILLED] = filled
        hist[k, H_WHEN] = when
    counts[N_HIST] = k + 1


@njit(cache=True)
def log_event(events: np.ndarray, counts: np.ndarray, t: int, sym: int, rule: int, before: float, after: float) -> None:
    """Append one risk event: which rule fired, on which stock (-1 = account), value before/after."""
    k = int(counts[N_EVENTS])
    if k < events.shape[0]:
        events[k, RE_T] = t
        events[k, RE_SYM] = sym
        events[k, RE_RULE] = rule
        events[k, RE_BEFORE] = before
        events[k, RE_AFTER] = after
    counts[N_EVENTS] = k + 1


@njit(cache=True)
def record_trade(trades: np.ndarray, counts: np.ndarray, i: int, entry_t: float, exit_t: float, entry_px: float,
                 exit_px: float, shares: float, pnl: float, ret: float, paper: float, reason: float) -> None:
    """Append one trade row (per-stock layout + paper flag + exit reason)."""
    k = int(counts[N_TRADES])
    if k < trades.shape[0]:
        trades[k, T_SYMBOL] = i
        trades[k, T_ENTRY_T] = entry_t
        trades[k, T_EXIT_T] = exit_t
        trades[k, T_ENTRY_PRICE] = entry_px
        trades[k, T_EXIT_PRICE] = exit_px
        trades[k, T_SHARES] = shares
        trades[k, T_PNL] = pnl
        trades[k, T_RETURN] = ret
        trades[k, PT_PAPER] = paper
        trades[k, PT_EXIT_REASON] = reason
    counts[N_TRADES] = k + 1


@njit(cache=True)
def learn_sizes(pos_i: np.ndarray, ret: float, params: np.ndarray) -> None:
    """EMA of winning and of losing trade returns (the Kelly win/loss ratio), same factor as the strategy."""
    a = params[P_ALPHA]
    if ret > 0.0:
        pos_i[POS_AVG_WIN] = ret if math.isnan(pos_i[POS_AVG_WIN]) else a * ret + (1.0 - a) * pos_i[POS_AVG_WIN]
    else:
        loss = -ret
        pos_i[POS_AVG_LOSS] = loss if math.isnan(pos_i[POS_AVG_LOSS]) else a * loss + (1.0 - a) * pos_i[POS_AVG_LOSS]


@njit(cache=True)
def filled_in_unit(act_i: np.ndarray) -> float:
    """What the active order has filled in its own unit (buys: cash spent, sells: shares)."""
    return act_i[ACT_FILLED_NOTIONAL] if act_i[ACT_SIDE] > 0 else act_i[ACT_FILLED]


@njit(cache=True)
def work_order(i: int, t: int, o: float, h: float, lo: float, c: float, known_v: float, vol_t: float,
               act_i: np.ndarray, pos_i: np.ndarray, state: np.ndarray, params: np.ndarray, risk: np.ndarray,
               book: np.ndarray, orders: np.ndarray, fills: np.ndarray, hist: np.ndarray, trades: np.ndarray,
               events: np.ndarray, counts: np.ndarray, event: np.ndarray) -> None:
    """Work stock i's active order on bar t (a bar after the order was created); `known_v` is the volume
    the participation cap may use: known before bar t's open (kernel.known_volume), never bar t's own."""
    oid = act_i[ACT_ID]
    k = int(oid)
    side = int(act_i[ACT_SIDE])
    base = o if (math.isfinite(o) and o > 0.0) else c
    is_limit = int(act_i[ACT_TYPE]) == LIMIT
    if is_limit:
        base = limit_price_fill(side, act_i[ACT_LIMIT], base, h, lo)
    act_i[ACT_BARS_WORKED] += 1.0
    q = 0.0
    px = 0.0
    unit = 0.0
    imp = 0.0
    fee = 0.0
    if math.isfinite(base):
        room = participation_cap(known_v, risk[LIM_PARTICIPATION])  # volume known before the open, not bar t's
        slip, comm = params[P_SLIPPAGE], params[P_COMMISSION]
        if side > 0:
            px0 = base * (1.0 + slip)
            q = min(act_i[ACT_REM_NOTIONAL], book[BOOK_CASH]) / (px0 * (1.0 + comm))
            q = min(q, room)
            imp = impact_fraction(q, act_i[ACT_ADV], act_i[ACT_VOL], risk[LIM_IMPACT_K])
            px = base * (1.0 + slip + imp)
            if is_limit and px > act_i[ACT_LIMIT]:  # a limit order never pays more than its limit
                px = act_i[ACT_LIMIT]
            unit = px * (1.0 + comm)
            q = min(q, min(act_i[ACT_REM_NOTIONAL], book[BOOK_CASH]) / unit)
        else:
            q = min(act_i[ACT_REM_QTY], room, pos_i[POS_SHARES])
            imp = impact_fraction(q, act_i[ACT_ADV], act_i[ACT_VOL], risk[LIM_IMPACT_K])
            px = base * (1.0 - slip - imp)
            if is_limit and px < act_i[ACT_LIMIT]:
                px = act_i[ACT_LIMIT]
        if params[P_WHOLE_SHARES] != 0.0:
            q = math.floor(q + 1e-9) if side < 0 else math.floor(q)
        if q > 0.0 and side > 0:
            cost = q * unit
            cost = min(cost, book[BOOK_CASH])
            book[BOOK_CASH] -= cost
            book[BOOK_RESERVED] -= min(cost, act_i[ACT_REM_NOTIONAL])
            act_i[ACT_REM_NOTIONAL] -= cost
            first = pos_i[POS_SHARES] == 0.0
            pos_i[POS_SHARES] += q
            pos_i[POS_COST] += cost
            if first:
                pos_i[POS_ENTRY_T] = t
            avg = (state[S_ENTRY_PRICE] * (pos_i[POS_SHARES] - q) + px * q) / pos_i[POS_SHARES] if not first else px
            open_position(state, int(pos_i[POS_ENTRY_T]), pos_i[POS_SHARES], avg, pos_i[POS_COST])
            fee = cost - q * px
        elif q > 0.0:
            proceeds = q * px * (1.0 - comm)
            frac = q / pos_i[POS_SHARES]
            basis = pos_i[POS_COST] * frac
            book[BOOK_CASH] += proceeds
            pos_i[POS_REALIZED] += proceeds - basis
            pos_i[POS_COST] -= basis
            pos_i[POS_SHARES] -= q
            pos_i[POS_EXIT_PROCEEDS] += proceeds
            pos_i[POS_EXIT_COST] += q * px
            act_i[ACT_REM_QTY] -= q
            fee = q * px * comm
        if q > 0.0:
            act_i[ACT_FILLED] += q
            act_i[ACT_FILLED_VALUE] += q * px
            act_i[ACT_FILLED_NOTIONAL] += q * px + fee if side > 0 else q * px
            nf = int(counts[N_FILLS])
            if nf < fills.shape[0]:
                fills[nf, F_ORDER] = oid
                fills[nf, F_SYM] = i
                fills[nf, F_SIDE] = side
                fills[nf, F_QTY] = q
                fills[nf, F_PX] = px
                fills[nf, F_T] = t
                fills[nf, F_COMMISSION] = fee
                fills[nf, F_IMPACT_BPS] = imp * 1e4
            counts[N_FILLS] = nf + 1
    if side > 0:
        rem = act_i[ACT_REM_NOTIONAL]
        done = rem <= 1e-9 * max(1.0, rem + act_i[ACT_FILLED_VALUE])
        if params[P_WHOLE_SHARES] != 0.0 and math.isfinite(base):
            done = done or rem < base * (1.0 + params[P_SLIPPAGE]) * (1.0 + params[P_COMMISSION])
    else:
        done = pos_i[POS_SHARES] <= 1e-12
    status = FILLED if done else (PARTIAL if q > 0.0 else -1)
    if status >= 0:
        log_hist(hist, counts, oid, t, status, act_i[ACT_FILLED], 0)
    expired = (not done) and act_i[ACT_BARS_WORKED] >= act_i[ACT_MAX_BARS]
    if expired:
        log_hist(hist, counts, oid, t, CANCELLED, act_i[ACT_FILLED], 1)
        log_event(events, counts, t, i, RULE_UNFILLED, act_i[ACT_QTY], filled_in_unit(act_i))
        status = CANCELLED
    if k < orders.shape[0]:
        if status >= 0:
            orders[k, O_STATUS] = status
        orders[k, O_FILLED] = act_i[ACT_FILLED]
        orders[k, O_FILLED_NOTIONAL] = act_i[ACT_FILLED_NOTIONAL]
        orders[k, O_AVG_PX] = act_i[ACT_FILLED_VALUE] / act_i[ACT_FILLED] if act_i[ACT_FILLED] > 0 else np.nan
        orders[k, O_LAST_T] = t
    if side > 0 and (done or expired):
        book[BOOK_RESERVED] -= act_i[ACT_REM_NOTIONAL]
        act_i[ACT_REM_NOTIONAL] = 0.0
    if side < 0 and done:
        finish_exit(i, t, vol_t, pos_i, state, params, trades, counts, event)
    if done or expired:
        act_i[ACT_ID] = -1.0


@njit(cache=True)
def idle_bar(i: int, t: int, act_i: np.ndarray, book: np.ndarray, orders: np.ndarray, hist: np.ndarray,
             events: np.ndarray, counts: np.ndarray) -> None:
    """Stock i has no bar at t: its active order cannot fill, but the bar still counts toward
    max_order_bars, so an order in a stock whose data stops expires (reported, cash released)."""
    act_i[ACT_BARS_WORKED] += 1.0
    if act_i[ACT_BARS_WORKED] < act_i[ACT_MAX_BARS]:
        return
    oid = act_i[ACT_ID]
    k = int(oid)
    log_hist(hist, counts, oid, t, CANCELLED, act_i[ACT_FILLED], 1)
    log_event(events, counts, t, i, RULE_UNFILLED, act_i[ACT_QTY], filled_in_unit(act_i))
    if k < orders.shape[0]:
        orders[k, O_STATUS] = CANCELLED
        orders[k, O_LAST_T] = t
    if act_i[ACT_SIDE] > 0:
        book[BOOK_RESERVED] -= act_i[ACT_REM_NOTIONAL]
        act_i[ACT_REM_NOTIONAL] = 0.0
    act_i[ACT_ID] = -1.0


@njit(cache=True)
def finish_exit(i: int, t: int, vol_t: float, pos_i: np.ndarray, state: np.ndarray, params: np.ndarray,
                trades: np.ndarray, counts: np.ndarray, event: np.ndarray) -> None:
    """The position is fully sold: close it in the strategy (learning runs) and record the trade."""
    shares = state[S_SHARES]
    entry_t = state[S_ENTRY_T]
    entry_px = state[S_ENTRY_PRICE]
    exit_px = pos_i[POS_EXIT_COST] / shares if shares > 0.0 else np.nan
    ret = close_position(state, params, pos_i[POS_EXIT_PROCEEDS], vol_t, event)
    learn_sizes(pos_i, ret, params)
    reason = pos_i[POS_EXITING] - 1.0 if pos_i[POS_EXITING] > 0 else 0.0
    record_trade(trades, counts, i, entry_t, t, entry_px, exit_px, shares, event[E_PNL], event[E_RETURN], 0.0, reason)
    pos_i[POS_SHARES] = 0.0
    pos_i[POS_COST] = 0.0
    pos_i[POS_EXITING] = 0.0
    pos_i[POS_EXIT_PROCEEDS] = 0.0
    pos_i[POS_EXIT_COST] = 0.0
