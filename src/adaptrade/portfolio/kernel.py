"""The compiled portfolio loop: one account, bars outer, stocks inner. At each bar: work the
open orders against the bar (fills), mark to market, run the drawdown breaker, then per stock
check stops and ask the strategy (`decide`) for a signal; then entries compete for cash (most
oversold first), sized by the risk rules, as orders that fill from the next bar on. Everything lands in preallocated buffers."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.portfolio.fills import (
    BOOK_CASH,
    BOOK_HWM,
    BOOK_RESERVED,
    idle_bar,
    log_event,
    record_trade,
    work_order,
)
from adaptrade.portfolio.layout import (
    ACT_ID,
    POS_COST,
    POS_EXITING,
    POS_LAST_CLOSE,
    POS_PAPER,
    POS_PAPER_PENDING,
    POS_REALIZED,
    POS_SHARES,
)
from adaptrade.portfolio.orders import (
    cancel,
    log_changes,
    new_order,
    paper_fill,
    size_entry,
)
from adaptrade.execution.liquidity import estimated_cost_bps
from adaptrade.execution.orders import DAY, GTC, LIMIT, MARKET, choose_order_type
from adaptrade.risk.limits import (
    LIM_IMPACT_K,
    LIM_INITIAL_CASH,
    LIM_LIMIT_ABOVE_BPS,
    LIM_LIMIT_GTC,
    LIM_MAX_ORDER_BARS,
)
from adaptrade.risk.rules import (
    ACC_BREAKER,
    ACC_PEAK,
    RULE_STOP_PCT,
    breaker_update,
    stop_rule,
)
from adaptrade.strategy.kernel import decide, effective_thresholds
from adaptrade.strategy.params import P_RSI_ROW0
from adaptrade.strategy.state import (
    EVENT_SIZE,
    S_ENTRY_COST,
    S_ENTRY_PRICE,
    S_ENTRY_T,
    S_PERIOD_IDX,
)


@njit(cache=True)
def known_volume(adv: np.ndarray, volume: np.ndarray, i: int, t: int) -> float:
    """Volume an order filling at bar t's open can know: the average daily volume up to the previous
    session's close (that session's volume while the average is still warming up; 0 before any)."""
    if t == 0:
        return 0.0
    a = adv[i, t - 1]
    if math.isfinite(a) and a > 0.0:
        return a
    v = volume[i, t - 1]
    return v if math.isfinite(v) and v > 0.0 else 0.0


@njit(cache=True)
def portfolio_start(risk: np.ndarray, book: np.ndarray, acct: np.ndarray) -> None:
    """The account before the first bar: all cash, the breaker's and the drawdown's peaks at the start
    (`book[BOOK_HWM]` is the reported drawdown's high-water mark, never re-based)."""
    book[BOOK_CASH] = risk[LIM_INITIAL_CASH]
    book[BOOK_RESERVED] = 0.0
    book[BOOK_HWM] = risk[LIM_INITIAL_CASH]
    acct[ACC_PEAK] = risk[LIM_INITIAL_CASH]


@njit(cache=True)
def portfolio_bar(t: int, T: int, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  valid: np.ndarray, rsi: np.ndarray, vol: np.ndarray, adv: np.ndarray, spread: np.ndarray,
                  ret: np.ndarray, params: np.ndarray, risk: np.ndarray, states: np.ndarray, pos: np.ndarray,
                  act: np.ndarray, book: np.ndarray, acct: np.ndarray, curves: np.ndarray, pnl: np.ndarray,
                  in_market: np.ndarray, signal: np.ndarray, orders: np.ndarray, fills: np.ndarray, hist: np.ndarray,
                  trades: np.ndarray, changes: np.ndarray, events: np.ndarray, counts: np.ndarray) -> None:
    """Bar t of T (the last one is the run's final close): fills on bar t, mark to market, breaker, stops,
    signals and new orders at its close. Reads columns up to t only, so the live loop calls it per session."""
    n = close.shape[0]
    event = np.zeros(EVENT_SIZE)
    held = np.empty(n, dtype=np.int64)
    cand = np.empty(n, dtype=np.int64)
    strength = np.empty(n)
    for i in range(n):  # 1) fills on bar t
        if not valid[i, t]:
            if act[i, ACT_ID] >= 0.0:  # no data: nothing fills, but the bar counts toward max_order_bars
                idle_bar(i, t, act[i], book, orders, hist, events, counts)
            continue
        event[:] = 0.0
        if pos[i, POS_PAPER_PENDING] != 0.0:
            o = open_[i, t]
            paper_fill(i, t, o if (math.isfinite(o) and o > 0.0) else close[i, t], vol[i, t], pos[i], states[i], params, trades, counts, event)
        elif act[i, ACT_ID] >= 0.0:
            work_order(i, t, open_[i, t], high[i, t], low[i, t], close[i, t], known_volume(adv, volume, i, t), vol[i, t], act[i], pos[i],
                       states[i], params, risk, book, orders, fills, hist, trades, events, counts, event)
        log_changes(changes, counts, event, i, t)
    value = 0.0  # 2) mark to market at the close
    for i in range(n):
        if valid[i, t]:
            pos[i, POS_LAST_CLOSE] = close[i, t]
        v = pos[i, POS_SHARES] * pos[i, POS_LAST_CLOSE] if pos[i, POS_SHARES] > 0.0 else 0.0
        value += v
        pnl[i, t] = pos[i, POS_REALIZED] + v - pos[i, POS_COST]
        in_market[i, t] = pos[i, POS_SHARES] > 0.0
    eq = book[BOOK_CASH] + value
    rule, dd = breaker_update(acct, eq, t, risk)
    if rule != 0:
        log_event(events, counts, t, -1, rule, dd, acct[ACC_PEAK])
    book[BOOK_HWM] = max(book[BOOK_HWM], eq)
    true_dd = 1.0 - eq / book[BOOK_HWM] if book[BOOK_HWM] > 0.0 else 0.0
    curves[0, t], curves[1, t], curves[2, t], curves[3, t], curves[4, t] = eq, book[BOOK_CASH], value / eq, true_dd, acct[ACC_BREAKER]
    exposure = value + book[BOOK_RESERVED]
    n_cand = 0
    for i in range(n):  # 3) stops, signals, sizing, new orders at the close
        signal[i, t] = 0
        if not valid[i, t]:
            continue
        st = states[i]
        last = t == T - 1  # only the backtest's final close is special, never when a stock's data ends
        if pos[i, POS_SHARES] > 0.0 and pos[i, POS_EXITING] == 0.0 and not last:
            r = stop_rule(close[i, t], st[S_ENTRY_PRICE], vol[i, t], risk)
            if r != 0:
                if act[i, ACT_ID] >= 0.0:
                    cancel(act[i], t, book, orders, hist, counts)
                pos[i, POS_EXITING] = 2.0 if r == RULE_STOP_PCT else 3.0
                log_event(events, counts, t, i, r, st[S_ENTRY_PRICE], close[i, t])
        sig = decide(st, params, rsi[i, :, t])
        signal[i, t] = sig
        if last:
            continue
        if sig < 0:
            if pos[i, POS_PAPER] != 0.0:
                pos[i, POS_PAPER_PENDING] = -1.0
            elif pos[i, POS_SHARES] > 0.0 and pos[i, POS_EXITING] == 0.0:
                if act[i, ACT_ID] >= 0.0:
                    cancel(act[i], t, book, orders, hist, counts)
                pos[i, POS_EXITING] = 1.0
        elif sig > 0 and act[i, ACT_ID] < 0.0 and pos[i, POS_SHARES] == 0.0 and pos[i, POS_PAPER] == 0.0 and pos[i, POS_PAPER_PENDING] == 0.0:
            buy_eff, _ = effective_thresholds(st, params)
            cand[n_cand] = i
            # how far below its buy threshold: the RSI `decide` read (the stack's row of the period, not the period)
            strength[n_cand] = buy_eff - rsi[i, int(st[S_PERIOD_IDX]) - int(params[P_RSI_ROW0]), t]
            n_cand += 1
        if pos[i, POS_EXITING] > 0.0 and act[i, ACT_ID] < 0.0 and pos[i, POS_SHARES] > 0.0:
            q = pos[i, POS_SHARES]
            cost_bps = estimated_cost_bps(q, adv[i, t], vol[i, t], spread[i, t], risk[LIM_IMPACT_K])
            otype = choose_order_type(True, cost_bps, risk[LIM_LIMIT_ABOVE_BPS])  # exits are urgent: market
            new_order(i, t, -1, otype, GTC, np.nan, q, q, int(pos[i, POS_EXITING]),
                       risk[LIM_MAX_ORDER_BARS], adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
    for k in np.argsort(-strength[:n_cand], kind="mergesort"):  # 4) entries compete for cash: most oversold first
        i = cand[k]
        w = size_entry(i, t, eq, exposure, states[i], pos, act, book, acct, ret, risk, events, counts, held)
        if w <= 0.0:
            pos[i, POS_PAPER_PENDING] = 1.0
            continue
        notional = w * eq
        c = close[i, t]
        qty = notional / c
        cost_bps = estimated_cost_bps(qty, adv[i, t], vol[i, t], spread[i, t], risk[LIM_IMPACT_K])
        if choose_order_type(False, cost_bps, risk[LIM_LIMIT_ABOVE_BPS]) == LIMIT:
            tif = GTC if risk[LIM_LIMIT_GTC] != 0.0 else DAY
            new_order(i, t, 1, LIMIT, tif, c, notional, qty, 0, risk[LIM_MAX_ORDER_BARS] if tif == GTC else 1.0,
                      adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
        else:
            new_order(i, t, 1, MARKET, GTC, np.nan, notional, qty, 0, risk[LIM_MAX_ORDER_BARS],
                      adv[i, t], vol[i, t], cost_bps, act[i], orders, hist, counts)
        book[BOOK_RESERVED] += notional
        exposure += notional


@njit(cache=True)
def portfolio_finish(T: int, close: np.ndarray, states: np.ndarray, pos: np.ndarray, act: np.ndarray, book: np.ndarray,
                     orders: np.ndarray, hist: np.ndarray, trades: np.ndarray, counts: np.ndarray) -> None:
    """After the final bar: cancel what still works, report open positions marked at the last close."""
    n = close.shape[0]
    for i in range(n):  # end: cancel what still works, report open positions marked at the last close
        if act[i, ACT_ID] >= 0.0:
            cancel(act[i], T - 1, book, orders, hist, counts)
        st = states[i]
        mark = pos[i, POS_LAST_CLOSE]
        if pos[i, POS_SHARES] > 0.0:
            value = pos[i, POS_SHARES] * mark
            record_trade(trades, counts, i, st[S_ENTRY_T], -1.0, st[S_ENTRY_PRICE], np.nan, pos[i, POS_SHARES],
                         value - pos[i, POS_COST], value / pos[i, POS_COST] - 1.0, 0.0, 3.0)
        elif pos[i, POS_PAPER] != 0.0:
            record_trade(trades, counts, i, st[S_ENTRY_T], -1.0, st[S_ENTRY_PRICE], np.nan, 0.0, 0.0,
                         mark / st[S_ENTRY_COST] - 1.0, 1.0, 3.0)


@njit(cache=True)
def run_portfolio(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  valid: np.ndarray, rsi: np.ndarray, vol: np.ndarray, adv: np.ndarray, spread: np.ndarray,
                  ret: np.ndarray, params: np.ndarray, risk: np.ndarray, states: np.ndarray, pos: np.ndarray,
                  act: np.ndarray, book: np.ndarray, acct: np.ndarray, curves: np.ndarray, pnl: np.ndarray,
                  in_market: np.ndarray, signal: np.ndarray, orders: np.ndarray, fills: np.ndarray, hist: np.ndarray,
                  trades: np.ndarray, changes: np.ndarray, events: np.ndarray, counts: np.ndarray) -> None:
    """Run every stock's strategy against one account; `curves` rows: equity, cash, gross, drawdown, breaker."""
    T = close.shape[1]
    portfolio_start(risk, book, acct)
    for t in range(T):
        portfolio_bar(t, T, open_, high, low, close, volume, valid, rsi, vol, adv, spread, ret, params, risk, states, pos,
                      act, book, acct, curves, pnl, in_market, signal, orders, fills, hist, trades, changes, events, counts)
    portfolio_finish(T, close, states, pos, act, book, orders, hist, trades, counts)
