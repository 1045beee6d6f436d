"""The compiled portfolio loop: one account, bars outer, stocks inner. At each bar: work the
open orders against the bar (fills), mark to market, run the drawdown breaker, then per stock
check stops, ask the strategy (`decide`) for a signal, size entries with the risk rules and
create orders that fill from the next bar on. Everything lands in preallocated buffers."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.backtest.kernel import C_NEW, C_OLD, C_PARAM, C_REASON, C_SYMBOL, C_T
from adaptrade.backtest.portfolio_fills import (
    B_CASH,
    B_RESERVED,
    learn_sizes,
    log_event,
    log_hist,
    record_trade,
    work_order,
)
from adaptrade.backtest.portfolio_layout import (
    A_ADV,
    A_BARS_WORKED,
    A_CREATED_T,
    A_FILLED,
    A_ID,
    A_LIMIT,
    A_MAX_BARS,
    A_QTY,
    A_REASON,
    A_REM_NOTIONAL,
    A_REM_QTY,
    A_SIDE,
    A_TIF,
    A_TYPE,
    A_VOL,
    N_CHANGES,
    N_ORDERS,
    O_AVG_PX,
    O_CREATED_T,
    O_EST_COST_BPS,
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
    P_AVG_LOSS,
    P_AVG_WIN,
    P_COST,
    P_EXITING,
    P_LAST_CLOSE,
    P_PAPER,
    P_PAPER_PENDING,
    P_REALIZED,
    P_SHARES,
)
from adaptrade.execution.liquidity import impact_fraction
from adaptrade.execution.orders import CANCELLED, DAY, GTC, LIMIT, MARKET, NEW
from adaptrade.risk.limits import (
    R_CORR_LIMIT,
    R_CORR_WINDOW,
    R_IMPACT_K,
    R_INITIAL_CASH,
    R_LIMIT_ABOVE_BPS,
    R_LIMIT_GTC,
    R_MAX_GROSS,
    R_MAX_ORDER_BARS,
    R_MAX_POSITION,
)
from adaptrade.risk.rules import (
    A_BREAKER,
    A_PEAK,
    RULE_BREAKER,
    RULE_CASH,
    RULE_MAX_GROSS,
    RULE_MAX_POSITION,
    RULE_STOP_PCT,
    RULE_TOO_SMALL,
    avg_correlation,
    breaker_update,
    cap,
    correlation_scale,
    kelly_weight,
    stop_rule,
    too_small,
)
from adaptrade.strategy.kernel import close_position, decide, open_position
from adaptrade.strategy.params import P_COMMISSION, P_SLIPPAGE
from adaptrade.strategy.state import (
    CHANGE_FIELDS,
    E_CHANGES,
    E_N_CHANGES,
    EVENT_SIZE,
    S_EMA_WIN,
    S_ENTRY_COST,
    S_ENTRY_PRICE,
    S_ENTRY_T,
    S_N_TRADES,
)


@njit(cache=True)
def _log_changes(changes: np.ndarray, counts: np.ndarray, event: np.ndarray, i: int, t: int) -> None:
    """Copy the parameter changes of one strategy event into the change log."""
    for k in range(int(event[E_N_CHANGES])):
        nc = int(counts[N_CHANGES])
        if nc < changes.shape[0]:
            b = E_CHANGES + CHANGE_FIELDS * k
            changes[nc, C_SYMBOL] = i
            changes[nc, C_T] = t
            changes[nc, C_PARAM] = event[b]
            changes[nc, C_OLD] = event[b + 1]
            changes[nc, C_NEW] = event[b + 2]
            changes[nc, C_REASON] = event[b + 3]
        counts[N_CHANGES] = nc + 1
    event[E_N_CHANGES] = 0.0


@njit(cache=True)
def _paper_fill(i: int, t: int, base: float, vol_t: float, pos_i: np.ndarray, state: np.ndarray, params: np.ndarray,
                trades: np.ndarray, counts: np.ndarray, event: np.ndarray) -> None:
    """The strategy follows a signal the account did not take, on paper (1 share, same costs), to keep learning."""
    slip, comm = params[P_SLIPPAGE], params[P_COMMISSION]
    if pos_i[P_PAPER_PENDING] > 0.0:
        px = base * (1.0 + slip)
        open_position(state, t, 1.0, px, px * (1.0 + comm))
        pos_i[P_PAPER] = 1.0
    else:
        entry_t, entry_px = state[S_ENTRY_T], state[S_ENTRY_PRICE]
        px = base * (1.0 - slip)
        ret = close_position(state, params, px * (1.0 - comm), vol_t, event)
        learn_sizes(pos_i, ret, params)
        record_trade(trades, counts, i, entry_t, t, entry_px, px, 0.0, 0.0, ret, 1.0, 0.0)
        pos_i[P_PAPER] = 0.0
    pos_i[P_PAPER_PENDING] = 0.0


@njit(cache=True)
def _new_order(i: int, t: int, side: int, otype: int, tif: int, limit: float, qty: float, notional: float,
               reason: int, max_bars: float, adv: float, vol: float, cost_bps: float, act_i: np.ndarray,
               orders: np.ndarray, hist: np.ndarray, counts: np.ndarray) -> None:
    """Create an order at bar t's close (works from the next bar on) and make it the stock's active order."""
    k = int(counts[N_ORDERS])
    if k < orders.shape[0]:
        row = orders[k]
        row[O_SYM], row[O_SIDE], row[O_TYPE], row[O_TIF], row[O_LIMIT] = i, side, otype, tif, limit
        row[O_QTY], row[O_NOTIONAL], row[O_CREATED_T], row[O_STATUS], row[O_FILLED] = qty, notional, t, NEW, 0.0
        row[O_AVG_PX], row[O_REASON], row[O_LAST_T], row[O_EST_COST_BPS] = np.nan, reason, t, cost_bps
    counts[N_ORDERS] = k + 1
    log_hist(hist, counts, float(k), t, NEW, 0.0, 1)
    act_i[:] = 0.0
    act_i[A_ID], act_i[A_SIDE], act_i[A_TYPE], act_i[A_TIF], act_i[A_LIMIT] = k, side, otype, tif, limit
    act_i[A_REM_NOTIONAL], act_i[A_REM_QTY], act_i[A_CREATED_T], act_i[A_MAX_BARS] = notional, qty, t, max_bars
    act_i[A_ADV], act_i[A_VOL], act_i[A_REASON], act_i[A_QTY], act_i[A_BARS_WORKED] = adv, vol, reason, qty, 0.0


@njit(cache=True)
def _cancel(act_i: np.ndarray, t: int, book: np.ndarray, orders: np.ndarray, hist: np.ndarray, counts: np.ndarray) -> None:
    """Cancel the stock's active order at bar t's close; a buy's unused cash reservation is released."""
    k = int(act_i[A_ID])
    log_hist(hist, counts, float(k), t, CANCELLED, act_i[A_FILLED], 1)
    if k < orders.shape[0]:
        orders[k, O_STATUS] = CANCELLED
        orders[k, O_LAST_T] = t
    if act_i[A_SIDE] > 0:
        book[B_RESERVED] -= act_i[A_REM_NOTIONAL]
    act_i[A_ID] = -1.0


@njit(cache=True)
def run_portfolio(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  valid: np.ndarray, rsi: np.ndarray, vol: np.ndarray, adv: np.ndarray, spread: np.ndarray,
                  ret: np.ndarray, params: np.ndarray, risk: np.ndarray, states: np.ndarray, pos: np.ndarray,
                  act: np.ndarray, book: np.ndarray, acct: np.ndarray, curves: np.ndarray, pnl: np.ndarray,
                  in_market: np.ndarray, signal: np.ndarray, orders: np.ndarray, fills: np.ndarray, hist: np.ndarray,
                  trades: np.ndarray, changes: np.ndarray, events: np.ndarray, counts: np.ndarray) -> None:
    """Run every stock's strategy against one account; `curves` rows: equity, cash, gross, drawdown, breaker."""
    n, T = close.shape
    event = np.zeros(EVENT_SIZE)
    held = np.empty(n, dtype=np.int64)
    last_valid = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        for t in range(T - 1, -1, -1):
            if valid[i, t]:
                last_valid[i] = t
                break
    book[B_CASH] = risk[R_INITIAL_CASH]
    book[B_RESERVED] = 0.0
    acct[A_PEAK] = risk[R_INITIAL_CASH]
    for t in range(T):
        for i in range(n):  # 1) fills on bar t
            if not valid[i, t]:
                continue
            event[:] = 0.0
            if pos[i, P_PAPER_PENDING] != 0.0:
                o = open_[i, t]
                _paper_fill(i, t, o if (math.isfinite(o) and o > 0.0) else close[i, t], vol[i, t], pos[i], states[i], params, trades, counts, event)
            elif act[i, A_ID] >= 0.0:
                work_order(i, t, open_[i, t], high[i, t], low[i, t], close[i, t], volume[i, t], vol[i, t], act[i], pos[i],
                           states[i], params, risk, book, orders, fills, hist, trades, events, counts, event)
            _log_changes(changes, counts, event, i, t)
        value = 0.0  # 2) mark to market at the close
        for i in range(n):
            if valid[i, t]:
                pos[i, P_LAST_CLOSE] = close[i, t]
            v = pos[i, P_SHARES] * pos[i, P_LAST_CLOSE] if pos[i, P_SHARES] > 0.0 else 0.0
            value += v
            pnl[i, t] = pos[i, P_REALIZED] + v - pos[i, P_COST]
            in_market[i, t] = pos[i, P_SHARES] > 0.0
        eq = book[B_CASH] + value
        rule, dd = breaker_update(acct, eq, t, risk)
        if rule != 0:
            log_event(events, counts, t, -1, rule, dd, acct[A_PEAK])
        curves[0, t], curves[1, t], curves[2, t], curves[3, t], curves[4, t] = eq, book[B_CASH], value / eq, dd, acct[A_BREAKER]
        exposure = value + book[B_RESERVED]
        for i in range(n):  # 3) stops, signals, sizing, new orders at the close
            signal[i, t] = 0
            if not valid[i, t]:
                continue
            st = states[i]
            last = t == last_valid[i]
            if pos[i, P_SHARES] > 0.0 and pos[i, P_EXITING] == 0.0 and not last:
                r = stop_rule(close[i, t], st[S_ENTRY_PRICE], vol[i, t], risk)
                if r != 0:
                    if act[i, A_ID] >= 0.0:
                        _cancel(act[i], t, book, orders, hist, counts)
                    pos[i, P_EXITING] = 2.0 if r == RULE_STOP_PCT else 3.0
                    log_event(events, counts, t, i, r, st[S_ENTRY_PRICE], close[i, t])
            sig = decide(st, params, rsi[i, :, t])
            signal[i, t] = sig
            if last:
                continue
            if sig < 0:
                if pos[i, P_PAPER] != 0.0:
                    pos[i, P_PAPER_PENDING] = -1.0
                elif pos[i, P_SHARES] > 0.0 and pos[i, P_EXITING] == 0.0:
                    if act[i, A_ID] >= 0.0:
                        _cancel(act[i], t, book, orders, hist, counts)
                    pos[i, P_EXITING] = 1.0
            elif sig > 0 and act[i, A_ID] < 0.0 and pos[i, P_SHARES] == 0.0 and pos[i, P_PAPER] == 0.0 and pos[i, P_PAPER_PENDING] == 0.0:
                w = _size_entry(i, t, eq, exposure, st, pos, act, book, acct, ret, risk, events, counts, held)
                if w <= 0.0:
                    pos[i, P_PAPER_PENDING] = 1.0
                else:
                    notional = w * eq
                    c = close[i, t]
                    qty = notional / c
                    half = 0.5 * spread[i, t] if math.isfinite(spread[i, t]) else 0.0
                    cost_bps = 1e4 * (half + impact_fraction(qty, adv[i, t], vol[i, t], risk[R_IMPACT_K]))
                    if cost_bps > risk[R_LIMIT_ABOVE_BPS]:
                        tif = GTC if risk[R_LIMIT_GTC] != 0.0 else DAY
                        _new_order(i, t, 1, LIMIT, tif, c, qty, notional, 0, risk[R_MAX_ORDER_BARS] if tif == GTC else 1.0,
                                   adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
                    else:
                        _new_order(i, t, 1, MARKET, GTC, np.nan, qty, notional, 0, risk[R_MAX_ORDER_BARS],
                                   adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
                    book[B_RESERVED] += notional
                    exposure += notional
            if pos[i, P_EXITING] > 0.0 and act[i, A_ID] < 0.0 and pos[i, P_SHARES] > 0.0:
                q = pos[i, P_SHARES]
                half = 0.5 * spread[i, t] if math.isfinite(spread[i, t]) else 0.0
                cost_bps = 1e4 * (half + impact_fraction(q, adv[i, t], vol[i, t], risk[R_IMPACT_K]))
                _new_order(i, t, -1, MARKET, GTC, np.nan, q, q * close[i, t], int(pos[i, P_EXITING]),
                           risk[R_MAX_ORDER_BARS], adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
    for i in range(n):  # end: cancel what still works, report open positions marked at the last close
        if act[i, A_ID] >= 0.0:
            _cancel(act[i], T - 1, book, orders, hist, counts)
        st = states[i]
        mark = pos[i, P_LAST_CLOSE]
        if pos[i, P_SHARES] > 0.0:
            value = pos[i, P_SHARES] * mark
            record_trade(trades, counts, i, st[S_ENTRY_T], -1.0, st[S_ENTRY_PRICE], np.nan, pos[i, P_SHARES],
                         value - pos[i, P_COST], value / pos[i, P_COST] - 1.0, 0.0, 3.0)
        elif pos[i, P_PAPER] != 0.0:
            record_trade(trades, counts, i, st[S_ENTRY_T], -1.0, st[S_ENTRY_PRICE], np.nan, 0.0, 0.0,
                         mark / st[S_ENTRY_COST] - 1.0, 1.0, 3.0)


@njit(cache=True)
def _size_entry(i: int, t: int, eq: float, exposure: float, st: np.ndarray, pos: np.ndarray, act: np.ndarray,
                book: np.ndarray, acct: np.ndarray, ret: np.ndarray, risk: np.ndarray, events: np.ndarray,
                counts: np.ndarray, held: np.ndarray) -> float:
    """Entry weight (share of equity) after every risk rule; each refusal or resize is logged with its rule."""
    w0, rule = kelly_weight(st[S_EMA_WIN], pos[i, P_AVG_WIN], pos[i, P_AVG_LOSS], st[S_N_TRADES], risk)
    if acct[A_BREAKER] != 0.0:
        log_event(events, counts, t, i, RULE_BREAKER, w0, 0.0)
        return 0.0
    if rule != 0:
        log_event(events, counts, t, i, rule, w0, 0.0)
        return 0.0
    w, r = cap(w0, risk[R_MAX_POSITION], RULE_MAX_POSITION)
    if r != 0:
        log_event(events, counts, t, i, r, w0, w)
    if risk[R_CORR_LIMIT] < 1.0:
        nh = 0
        for j in range(pos.shape[0]):
            if pos[j, P_SHARES] > 0.0 or (act[j, A_ID] >= 0.0 and act[j, A_SIDE] > 0.0):
                held[nh] = j
                nh += 1
        if nh > 0:
            s, r = correlation_scale(avg_correlation(ret, i, held, nh, t, int(risk[R_CORR_WINDOW])), risk)
            if r != 0:
                log_event(events, counts, t, i, r, w, w * s)
                w *= s
    w1, r = cap(w, (risk[R_MAX_GROSS] * eq - exposure) / eq, RULE_MAX_GROSS)
    if r != 0:
        log_event(events, counts, t, i, r, w, w1)
    w2, r = cap(w1, (book[B_CASH] - book[B_RESERVED]) / eq, RULE_CASH)
    if r != 0:
        log_event(events, counts, t, i, r, w1, w2)
    if w2 > 0.0 and too_small(w2, risk):
        log_event(events, counts, t, i, RULE_TOO_SMALL, w2, 0.0)
        return 0.0
    return w2
