"""The compiled per-stock all-in backtest loop: calls the strategy `step` for every bar of
every stock and writes equity, signals, trades and parameter changes into preallocated arrays."""

from __future__ import annotations

import numpy as np
from numba import njit

from adaptrade.data.features import rsi_rows_into
from adaptrade.strategy.kernel import step_inlined
from adaptrade.strategy.params import P_FILL_CLOSE
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
               lazy_vol: bool, valid_pos: np.ndarray, n_valid: int, rets: np.ndarray) -> tuple[int, int]:
    """Stock i over every bar (`rsi_i` [period, t] its RSI); returns the new trade and change counts.

    The volatility: `vol_i[t]`, or with `lazy_vol` computed from the `n_valid` valid closes in `vol_i` (their bars
    in `valid_pos`; `rets` scratch of 20) only on the bars where `step` can read it. `step` reads it only when it sells (to learn from the closed trade):
    at the open after a sell signal (a pending sell order), or at the close in fill-at-close mode while holding
    (or after a pending buy filled at the open).
    """
    n_t = close.shape[1]
    fill_close = params[P_FILL_CLOSE] != 0.0
    k = -1  # the last valid close at or before bar t (advanced only where the volatility is needed)
    cap_tr = trades.shape[0]
    last_valid = -1
    for t in range(n_t - 1, -1, -1):
        if valid[i, t]:
            last_valid = t
            break
    for t in range(n_t):
        # only the backtest's own last bar is special: a stock whose data ends earlier is not
        # known to end (that would be look-ahead), so its last signal is treated like any other
        if lazy_vol:
            vol_t = np.nan
            pending = state[S_PENDING]
            if pending < 0.0 or (fill_close and (state[S_SHARES] > 0.0 or pending > 0.0)):
                while k + 1 < n_valid and valid_pos[k + 1] <= t:  # catch up with bar t among the valid closes
                    k += 1
                if k >= 0 and valid_pos[k] == t:
                    vol_t = _vol_at(vol_i, k, rets)
        else:
            vol_t = vol_i[t]
        step_inlined(state, params, t, open_[i, t], close[i, t], valid[i, t], rsi_i[:, t], vol_t, t == n_t - 1, event)
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
                            event, nt, nc, False, vol[i].view(np.int64), 0, vol[i])
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
    rsi_i: np.ndarray,
    scratch: np.ndarray,
    pos: np.ndarray,
    small: np.ndarray,
) -> tuple[int, int]:
    """`run_all_in` with the features computed stock by stock inside the loop, bit for bit those of `rsi_stack` /
    `rolling_volatility` over `feature_valid` (valid and a finite close): the RSI of `periods` for stock i goes into
    the scratch `rsi_i` [1, period, t], which stays in the CPU's cache, instead of a [symbol, period, t] array
    written to memory and read back; the 20-day volatility is computed only at the bars where a trade closes.
    Scratch: `scratch` [2, t], `pos` [t] int64, `small` [4, n_periods].
    """
    n_sym, n_t = close.shape
    n_p = periods.shape[0]
    nt = 0
    nc = 0
    for i in range(n_sym):
        for j in range(n_p):
            for t in range(n_t):
                rsi_i[0, j, t] = np.nan
        rsi_rows_into(close[i:i + 1], feature_valid[i:i + 1], periods, rsi_i, scratch[0], scratch[1], pos, small[0], small[1],
                      small[2], small[3])  # leaves the stock's valid closes in scratch[0], their bars in pos
        n_valid = 0
        for t in range(n_t):
            if feature_valid[i, t]:
                n_valid += 1
        nt, nc = _run_stock(i, open_, close, valid, rsi_i[0], scratch[0], params, states[i], equity, signal, in_market, trades,
                            changes, event, nt, nc, True, pos, n_valid, scratch[1])
    return nt, nc
