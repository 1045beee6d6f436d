"""The compiled strategy step: one bar of one stock, over a flat state vector.

The backtest loop and the paper-trading loop both call `step`, so they agree by
construction. `step` reads only values at or before bar t: the RSI column and volatility
of bar t and the bar's open/close. A signal at t's close fills at the next valid bar's open
(or, in the optimistic `close` mode, at t's close).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.strategy.params import (
    BUY_MAX,
    BUY_MIN,
    P_ADAPTIVE,
    P_ALPHA,
    P_BUY0,
    P_COMMISSION,
    P_FILL_CLOSE,
    P_INITIAL_CASH,
    P_MIN_TRADES,
    P_PERIOD0,
    P_RSI_ROW0,
    P_SELL0,
    P_SLIPPAGE,
    P_STEP,
    P_WHOLE_SHARES,
    PERIOD_MAX,
    PERIOD_MIN,
    RETURN_LOOSEN,
    RETURN_TIGHTEN,
    SCALAR_MAX,
    SCALAR_MIN,
    SELL_MAX,
    SELL_MIN,
    WIN_RATE_FAST,
    WIN_RATE_SLOW,
)

# Everything but `initial_state` is compiled without numba's reference-counting runtime
# (`_nrt=False`): these functions never allocate, and the incref/decref pairs on their array
# arguments were ~98% of the per-bar cost when called once per bar from the loop.
from adaptrade.strategy.state import (
    CHANGE_FIELDS,
    E_CHANGES,
    E_CLOSED,
    E_ENTRY_PRICE,
    E_ENTRY_T,
    E_FILL,
    E_FILL_PRICE,
    E_FILL_SHARES,
    E_N_CHANGES,
    E_PNL,
    E_RETURN,
    E_SIGNAL,
    S_BUY,
    S_CASH,
    S_EMA_RETURN,
    S_EMA_VOL,
    S_EMA_WIN,
    S_ENTRY_COST,
    S_ENTRY_PRICE,
    S_ENTRY_T,
    S_LAST_EQUITY,
    S_N_TRADES,
    S_N_WINS,
    S_PENDING,
    S_PERIOD_IDX,
    S_SELL,
    S_SHARES,
    S_SIGNAL_T,
    S_VOL_SCALAR,
    STATE_SIZE,
)

N_PERIODS = PERIOD_MAX - PERIOD_MIN + 1
MAX_PERIOD_IDX = PERIOD_MAX - PERIOD_MIN

# reason codes (see state.REASONS)
REASON_FASTER, REASON_SLOWER, REASON_TIGHTEN, REASON_LOOSEN, REASON_VOL = 1, 2, 3, 4, 5
# parameter ids (see state.PARAM_NAMES)
ID_PERIOD, ID_BUY, ID_SELL, ID_SCALAR = 0, 1, 2, 3


@njit(cache=True)
def initial_state(params: np.ndarray) -> np.ndarray:
    """A flat account with the configured starting parameters."""
    s = np.zeros(STATE_SIZE, dtype=np.float64)
    s[S_CASH] = params[P_INITIAL_CASH]
    s[S_PERIOD_IDX] = params[P_PERIOD0] - PERIOD_MIN
    s[S_BUY] = params[P_BUY0]
    s[S_SELL] = params[P_SELL0]
    s[S_VOL_SCALAR] = 1.0
    s[S_EMA_RETURN] = np.nan
    s[S_EMA_VOL] = np.nan
    s[S_EMA_WIN] = np.nan
    s[S_ENTRY_T] = -1.0
    s[S_SIGNAL_T] = -1.0
    s[S_LAST_EQUITY] = params[P_INITIAL_CASH]
    return s


@njit(cache=True, _nrt=False)
def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True, _nrt=False)
def effective_thresholds(state: np.ndarray, params: np.ndarray) -> tuple[float, float]:
    """Buy/sell thresholds after the volatility scalar widens (>1) or narrows (<1) them around 50."""
    buy = state[S_BUY]
    sell = state[S_SELL]
    if params[P_ADAPTIVE] == 0.0:
        return buy, sell
    k = state[S_VOL_SCALAR]
    return _clamp(50.0 - (50.0 - buy) * k, BUY_MIN, BUY_MAX), _clamp(50.0 + (sell - 50.0) * k, SELL_MIN, SELL_MAX)


@njit(cache=True, _nrt=False)
def _record_change(event: np.ndarray, param_id: int, old: float, new: float, reason: int) -> None:
    k = int(event[E_N_CHANGES])
    base = E_CHANGES + CHANGE_FIELDS * k
    event[base] = param_id
    event[base + 1] = old
    event[base + 2] = new
    event[base + 3] = reason
    event[E_N_CHANGES] = k + 1


@njit(cache=True, _nrt=False)
def learn(state: np.ndarray, params: np.ndarray, trade_return: float, vol: float, event: np.ndarray) -> None:
    """Online learning after one closed trade: update the EMAs, then adapt within bounds."""
    a = params[P_ALPHA]
    win = 1.0 if trade_return > 0.0 else 0.0
    n = state[S_N_TRADES] + 1.0
    state[S_N_TRADES] = n
    state[S_N_WINS] += win
    if n == 1.0:
        state[S_EMA_RETURN] = trade_return
        state[S_EMA_WIN] = win
    else:
        state[S_EMA_RETURN] = a * trade_return + (1.0 - a) * state[S_EMA_RETURN]
        state[S_EMA_WIN] = a * win + (1.0 - a) * state[S_EMA_WIN]
    baseline = state[S_EMA_VOL]  # the vol scalar compares with the baseline as it stood before this trade
    if math.isfinite(vol):
        if math.isnan(state[S_EMA_VOL]):
            state[S_EMA_VOL] = vol
        else:
            state[S_EMA_VOL] = a * vol + (1.0 - a) * state[S_EMA_VOL]
    if params[P_ADAPTIVE] == 0.0 or n < params[P_MIN_TRADES]:
        return
    # RSI period from the win rate
    p_old = state[S_PERIOD_IDX]
    wr = state[S_EMA_WIN]
    if wr > WIN_RATE_FAST and p_old > 0:
        state[S_PERIOD_IDX] = p_old - 1.0
        _record_change(event, ID_PERIOD, p_old + PERIOD_MIN, p_old - 1.0 + PERIOD_MIN, REASON_FASTER)
    elif wr < WIN_RATE_SLOW and p_old < MAX_PERIOD_IDX:
        state[S_PERIOD_IDX] = p_old + 1.0
        _record_change(event, ID_PERIOD, p_old + PERIOD_MIN, p_old + 1.0 + PERIOD_MIN, REASON_SLOWER)
    # thresholds from the mean trade return
    step = params[P_STEP]
    b_old = state[S_BUY]
    s_old = state[S_SELL]
    mr = state[S_EMA_RETURN]
    if mr > RETURN_TIGHTEN:
        b_new = _clamp(b_old + step, BUY_MIN, BUY_MAX)
        s_new = _clamp(s_old - step, SELL_MIN, SELL_MAX)
        reason = REASON_TIGHTEN
    elif mr < RETURN_LOOSEN:
        b_new = _clamp(b_old - step, BUY_MIN, BUY_MAX)
        s_new = _clamp(s_old + step, SELL_MIN, SELL_MAX)
        reason = REASON_LOOSEN
    else:
        b_new = b_old
        s_new = s_old
        reason = 0
    if b_new != b_old:
        state[S_BUY] = b_new
        _record_change(event, ID_BUY, b_old, b_new, reason)
    if s_new != s_old:
        state[S_SELL] = s_new
        _record_change(event, ID_SELL, s_old, s_new, reason)
    # volatility scalar: current vol over its EMA over earlier trade closes (before this observation)
    ev = baseline
    if math.isfinite(vol) and math.isfinite(ev) and ev > 0.0:
        k_old = state[S_VOL_SCALAR]
        k_new = _clamp(vol / ev, SCALAR_MIN, SCALAR_MAX)
        if abs(k_new - k_old) > 1e-12:
            state[S_VOL_SCALAR] = k_new
            _record_change(event, ID_SCALAR, k_old, k_new, REASON_VOL)


@njit(cache=True, _nrt=False)
def _buy(state: np.ndarray, params: np.ndarray, t: int, price: float, event: np.ndarray) -> None:
    px = price * (1.0 + params[P_SLIPPAGE])
    unit = px * (1.0 + params[P_COMMISSION])
    cash = state[S_CASH]
    shares = cash / unit
    if params[P_WHOLE_SHARES] != 0.0:
        shares = math.floor(shares)
    if shares <= 0.0:
        return
    cost = shares * unit
    if cost > cash:  # float rounding on the all-in fractional buy
        cost = cash
    state[S_CASH] = cash - cost
    open_position(state, t, shares, px, cost)
    event[E_FILL] = 1.0
    event[E_FILL_PRICE] = px
    event[E_FILL_SHARES] = shares


@njit(cache=True, _nrt=False)
def _sell(state: np.ndarray, params: np.ndarray, t: int, price: float, vol: float, event: np.ndarray) -> None:
    shares = state[S_SHARES]
    if shares <= 0.0:
        return
    px = price * (1.0 - params[P_SLIPPAGE])
    proceeds = shares * px * (1.0 - params[P_COMMISSION])
    state[S_CASH] += proceeds
    event[E_FILL] = -1.0
    event[E_FILL_PRICE] = px
    event[E_FILL_SHARES] = shares
    close_position(state, params, proceeds, vol, event)


@njit(cache=True, _nrt=False)
def decide(state: np.ndarray, params: np.ndarray, rsi_t: np.ndarray) -> int:
    """The signal at this bar's close from the current position and RSI: +1 buy, -1 sell, 0 none.

    Pure (reads the state, changes nothing): the per-stock loop and the portfolio loop both use it.
    """
    r = rsi_t[int(state[S_PERIOD_IDX]) - int(params[P_RSI_ROW0])]
    if not math.isfinite(r):
        return 0
    buy, sell = effective_thresholds(state, params)
    if state[S_SHARES] == 0.0 and r < buy:
        return 1
    if state[S_SHARES] > 0.0 and r > sell:
        return -1
    return 0


@njit(cache=True, _nrt=False)
def open_position(state: np.ndarray, t: int, shares: float, price: float, cost: float) -> None:
    """Record an entry filled elsewhere (portfolio mode): shares at `price`, `cost` paid in total."""
    state[S_SHARES] = shares
    state[S_ENTRY_PRICE] = price
    state[S_ENTRY_COST] = cost
    state[S_ENTRY_T] = t


@njit(cache=True, _nrt=False)
def close_position(state: np.ndarray, params: np.ndarray, proceeds: float, vol: float, event: np.ndarray) -> float:
    """Record an exit filled elsewhere (portfolio mode) and learn from it; returns the trade return."""
    cost = state[S_ENTRY_COST]
    state[S_SHARES] = 0.0
    ret = proceeds / cost - 1.0
    event[E_CLOSED] = 1.0
    event[E_ENTRY_T] = state[S_ENTRY_T]
    event[E_ENTRY_PRICE] = state[S_ENTRY_PRICE]
    event[E_PNL] = proceeds - cost
    event[E_RETURN] = ret
    learn(state, params, ret, vol, event)
    return ret


@njit(cache=True, _nrt=False)
def step(
    state: np.ndarray,
    params: np.ndarray,
    t: int,
    open_t: float,
    close_t: float,
    valid_t: bool,
    rsi_t: np.ndarray,
    vol_t: float,
    last: bool,
    event: np.ndarray,
) -> int:
    """Advance one stock on its own all-in account by one bar; returns the signal at this close.

    `rsi_t[k]` is RSI(10 + k) at bar t, `vol_t` the 20-day volatility at t. `last` marks the
    final bar of a backtest: its signal is recorded but never filled.
    """
    event[:] = 0.0
    if not valid_t:
        return 0
    fill_close = params[P_FILL_CLOSE] != 0.0
    pending = state[S_PENDING]
    if pending != 0.0:
        px = open_t if (math.isfinite(open_t) and open_t > 0.0) else close_t
        if pending > 0.0:
            _buy(state, params, t, px, event)
        else:
            _sell(state, params, t, px, vol_t, event)
        state[S_PENDING] = 0.0
        state[S_SIGNAL_T] = -1.0
    signal = decide(state, params, rsi_t)
    if signal != 0:
        event[E_SIGNAL] = signal
        if fill_close:
            if not last:
                if signal > 0:
                    _buy(state, params, t, close_t, event)
                else:
                    _sell(state, params, t, close_t, vol_t, event)
        elif not last:
            state[S_PENDING] = signal
            state[S_SIGNAL_T] = t
    state[S_LAST_EQUITY] = state[S_CASH] + state[S_SHARES] * close_t
    return signal


# The same `step`, compiled to be inlined into the backtest's per-bar loops (backtest/kernel.py): as a call, passing
# its array arguments cost about half of the per-bar time (measured: fixed kernel 18.5 -> 9.2 ms for 500 x 2,520).
# Same source, same operations (no fastmath), so the same bits as `step`, which the live path calls.
step_inlined = njit(_nrt=False, inline="always")(step.py_func)
