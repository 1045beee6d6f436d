"""The compiled per-stock all-in backtest loop: calls the strategy `step` for every bar of
every stock and writes equity, signals, trades and parameter changes into preallocated arrays."""

from __future__ import annotations

import numpy as np
from numba import njit

from adaptrade.data.features import compress_valid, rsi_advance, rsi_value, rsi_warmup_into
from adaptrade.strategy.kernel import step_inlined
from adaptrade.strategy.params import P_FILL_CLOSE, P_RSI_ROW0
from adaptrade.strategy.state import (
    CHANGE_FIELDS,
    E_CHANGES,
    E_CLOSED,
    E_ENTRY_PRICE,
    E_ENTRY_T,
    E_FILL_PRICE,
    E_FILL_SHARES,
    E_N_CHANGES,
    E_PNL,
    E_RETURN,
    E_SIGNAL,
    S_ENTRY_COST,
    S_ENTRY_PRICE,
    S_ENTRY_T,
    S_LAST_EQUITY,
    S_PENDING,
    S_PERIOD_IDX,
    S_SHARES,
)

# columns of the trade buffer
T_SYMBOL, T_ENTRY_T, T_EXIT_T, T_ENTRY_PRICE, T_EXIT_PRICE, T_SHARES, T_PNL, T_RETURN = range(8)
TRADE_FIELDS = 8
# columns of the parameter-change buffer
C_SYMBOL, C_T, C_PARAM, C_OLD, C_NEW, C_REASON = range(6)
CHANGE_LOG_FIELDS = 6
# the strategy's volatility feature (Features.compute and the loop's own): 20 valid bars of log returns, annualised
# over 252 days (the scale `rolling_volatility` derives from its periods_per_year)
VOL_WINDOW = 20
VOL_DAYS = 252
VOL_SCALE = float(np.sqrt(VOL_DAYS))


@njit(cache=True, _nrt=False, inline="always")
def write_changes(changes: np.ndarray, nc: int, event: np.ndarray, i: int, t: int) -> int:
    """Copy one step's parameter changes into the change log from row nc; returns the new count.

    Rows past the buffer are counted, not written (the caller reruns with a larger buffer).
    Shared by the per-stock and the portfolio loops; inlined, because as a call it cost the
    per-stock loop ~20% (measured: 94M -> 76M bars/s fixed).
    """
    for k in range(int(event[E_N_CHANGES])):
        if nc < changes.shape[0]:
            base = E_CHANGES + CHANGE_FIELDS * k
            changes[nc, C_SYMBOL] = i
            changes[nc, C_T] = t
            changes[nc, C_PARAM] = event[base]
            changes[nc, C_OLD] = event[base + 1]
            changes[nc, C_NEW] = event[base + 2]
            changes[nc, C_REASON] = event[base + 3]
        nc += 1
    return nc


@njit(cache=True, _nrt=False, nogil=True)
def _vol_at(closes: np.ndarray, k: int, rets: np.ndarray) -> float:
    """The 20-day volatility at the k-th valid bar (`closes`: the stock's valid closes; `rets`: scratch of 20), as
    `rolling_volatility` computes it there: the same operations in the same order, so the same bits."""
    if k < VOL_WINDOW:
        return np.nan
    mean = 0.0
    for j in range(VOL_WINDOW):
        r = np.log(closes[k - VOL_WINDOW + 1 + j] / closes[k - VOL_WINDOW + j])
        rets[j] = r
        mean += r
    mean /= VOL_WINDOW
    ss = 0.0
    for j in range(VOL_WINDOW):
        d = rets[j] - mean
        ss += d * d
    return np.sqrt(ss / (VOL_WINDOW - 1)) * VOL_SCALE


@njit(cache=True, _nrt=False, inline="always")
def _run_stock(i: int, open_: np.ndarray, close: np.ndarray, valid: np.ndarray, rsi_i: np.ndarray, vol_i: np.ndarray,
               params: np.ndarray, state: np.ndarray, equity: np.ndarray, signal: np.ndarray, in_market: np.ndarray,
               trades: np.ndarray, changes: np.ndarray, event: np.ndarray, nt: int, nc: int,
               fused: bool, valid_pos: np.ndarray, n_valid: int, rets: np.ndarray, warm: np.ndarray, rv: np.ndarray,
               gain: np.ndarray, loss: np.ndarray, inv: np.ndarray, pm1: np.ndarray, max_p: int) -> tuple[int, int]:
    """Stock i over every bar; returns the new trade and change counts.

    Precomputed features: `rsi_i` [period, t] its RSI, `vol_i[t]` its volatility. `fused`: both computed here from the
    `n_valid` valid closes in `vol_i` (their bars in `valid_pos`). The RSI goes on bar by bar from `rsi_warmup_into`'s
    state (`warm` rows for the first valid bars, then `rsi_advance` of gain/loss), and only the periods `step` can read
    are turned into values in `rv`: the current period's, or all when a sell fills at this open (learning may change the
    period before the decision). The volatility (`rets` scratch of 20) only where `step` can read it: when it sells
    (to learn from the closed trade), at the open after a sell signal (a pending sell order), or at the close in
    fill-at-close mode while holding (or after a pending buy filled at the open).
    """
    n_t = close.shape[1]
    fill_close = params[P_FILL_CLOSE] != 0.0
    row0 = int(params[P_RSI_ROW0])
    n_l = rv.shape[0]
    k = -1  # the last valid close at or before bar t (advanced only where the volatility is needed)
    kr = -1  # the same for the RSI, advanced at every valid close
    cap_tr = trades.shape[0]
    last_valid = -1
    for t in range(n_t - 1, -1, -1):
        if valid[i, t]:
            last_valid = t
            break
    for t in range(n_t):
        # only the backtest's own last bar is special: a stock whose data ends earlier is not
        # known to end (that would be look-ahead), so its last signal is treated like any other
        if fused:
            vol_t = np.nan
            pending = state[S_PENDING]
            if pending < 0.0 or (fill_close and (state[S_SHARES] > 0.0 or pending > 0.0)):
                while k + 1 < n_valid and valid_pos[k + 1] <= t:  # catch up with bar t among the valid closes
                    k += 1
                if k >= 0 and valid_pos[k] == t:
                    vol_t = _vol_at(vol_i, k, rets)
            if kr + 1 < n_valid and valid_pos[kr + 1] == t:
                kr += 1
                if kr > max_p:
                    rsi_advance(gain, loss, inv, pm1, vol_i[kr] - vol_i[kr - 1])
                    if pending < 0.0:
                        for j in range(n_l):
                            rv[j] = rsi_value(gain[j], loss[j])
                    else:  # the period cannot change before the decision: only its RSI is read
                        j = int(state[S_PERIOD_IDX]) - row0
                        rv[j] = rsi_value(gain[j], loss[j])
                else:
                    for j in range(n_l):
                        rv[j] = warm[kr, j]
            else:
                for j in range(n_l):
                    rv[j] = np.nan
            step_inlined(state, params, t, open_[i, t], close[i, t], valid[i, t], rv, vol_t, t == n_t - 1, event)
        else:
            step_inlined(state, params, t, open_[i, t], close[i, t], valid[i, t], rsi_i[:, t], vol_i[t], t == n_t - 1, event)
        equity[i, t] = state[S_LAST_EQUITY]
        signal[i, t] = event[E_SIGNAL]
        in_market[i, t] = state[S_SHARES] > 0.0
        if event[E_CLOSED] != 0.0:
            if nt < cap_tr:
                trades[nt, T_SYMBOL] = i
                trades[nt, T_ENTRY_T] = event[E_ENTRY_T]
                trades[nt, T_EXIT_T] = t
                trades[nt, T_ENTRY_PRICE] = event[E_ENTRY_PRICE]
                trades[nt, T_EXIT_PRICE] = event[E_FILL_PRICE]
                trades[nt, T_SHARES] = event[E_FILL_SHARES]
                trades[nt, T_PNL] = event[E_PNL]
                trades[nt, T_RETURN] = event[E_RETURN]
            nt += 1
        nc = write_changes(changes, nc, event, i, t)
    if state[S_SHARES] > 0.0:  # open at the end: marked to market, exit fields empty
        if nt < cap_tr:
            mark = close[i, last_valid]
            value = state[S_SHARES] * mark
            cost = state[S_ENTRY_COST]
            trades[nt, T_SYMBOL] = i
            trades[nt, T_ENTRY_T] = state[S_ENTRY_T]
            trades[nt, T_EXIT_T] = -1.0
            trades[nt, T_ENTRY_PRICE] = state[S_ENTRY_PRICE]
            trades[nt, T_EXIT_PRICE] = np.nan
            trades[nt, T_SHARES] = state[S_SHARES]
            trades[nt, T_PNL] = value - cost
            trades[nt, T_RETURN] = value / cost - 1.0
        nt += 1
    return nt, nc


@njit(cache=True, _nrt=False, nogil=True)
def run_all_in(
    open_: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    rsi: np.ndarray,
    vol: np.ndarray,
    params: np.ndarray,
    states: np.ndarray,
    equity: np.ndarray,
    signal: np.ndarray,
    in_market: np.ndarray,
    trades: np.ndarray,
    changes: np.ndarray,
    event: np.ndarray,
) -> tuple[int, int]:
    """Run every stock (rows of the [symbol, t] arrays) on its own all-in account.

    `states[i]` is stock i's strategy state: read as the starting state, left as the final one.
    `event` is a scratch buffer of EVENT_SIZE (passed in: this loop runs without numba's
    allocator so that calling `step` once per bar costs no reference counting).

    Returns (number of trade rows, number of change rows). When a count exceeds its buffer,
    rows past the end are not written and the caller reruns with larger buffers.
    """
    nt = 0
    nc = 0
    for i in range(close.shape[0]):  # the volatility given: the lazy path's arguments are unused placeholders
        nt, nc = _run_stock(i, open_, close, valid, rsi[i], vol[i], params, states[i], equity, signal, in_market, trades, changes,
                            event, nt, nc, False, vol[i].view(np.int64), 0, vol[i], rsi[i], vol[i], vol[i], vol[i], vol[i],
                            vol[i], 0)  # the fused-only arguments: unused
    return nt, nc


@njit(cache=True, _nrt=False, nogil=True)
def run_all_in_fused(
    open_: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    feature_valid: np.ndarray,
    periods: np.ndarray,
    params: np.ndarray,
    states: np.ndarray,
    equity: np.ndarray,
    signal: np.ndarray,
    in_market: np.ndarray,
    trades: np.ndarray,
    changes: np.ndarray,
    event: np.ndarray,
    warm: np.ndarray,
    scratch: np.ndarray,
    pos: np.ndarray,
    small: np.ndarray,
) -> tuple[int, int]:
    """`run_all_in` with the features computed inside the loop, bit for bit those of `rsi_stack` / `rolling_volatility`
    over `feature_valid` (valid and a finite close), with no [symbol, period, t] array: each stock's RSI recursions go
    on bar by bar beside its strategy (`_run_stock`), only the RSI the strategy reads is divided out, and the 20-day
    volatility is computed only at the bars where a trade closes.
    Scratch: `warm` [longest period + 1, n_periods], `scratch` [2, t], `pos` [t] int64, `small` [5, n_periods].
    """
    n_sym, n_t = close.shape
    nt = 0
    nc = 0
    for i in range(n_sym):
        m = compress_valid(close[i], feature_valid[i], scratch[0], pos)
        max_p = rsi_warmup_into(scratch[0], m, periods, warm, scratch[1], small[0], small[1], small[2], small[3])
        nt, nc = _run_stock(i, open_, close, valid, warm, scratch[0], params, states[i], equity, signal, in_market, trades,
                            changes, event, nt, nc, True, pos, m, scratch[1], warm, small[4], small[0], small[1], small[2],
                            small[3], max_p)
    return nt, nc

