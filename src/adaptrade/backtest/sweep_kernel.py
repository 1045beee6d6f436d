"""Many strategy configurations over the same bars in one compiled pass (parameter sweeps).

The features are computed once; the kernel loops stocks outside and configurations inside, so a
stock's bars and RSI rows stay in cache while every configuration runs over them with the same
strategy `step` as the per-stock backtest (`backtest/kernel.py`). Per (configuration, stock) it
keeps only what a sweep records: total return, Sharpe, closed trades and wins; per
(configuration, bar) the sum and count of the stocks' daily excess over buy-and-hold. No equity,
trades or change log is kept. Every figure is computed with the operations, in the order, of the
per-configuration path (`run_backtest` + `backtest.metrics.stock_metrics` + the sweep's excess
series), so the numbers are bit-identical to it (tests/backtest/test_sweep_kernel.py).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from adaptrade.strategy import kernel as strategy_kernel
from adaptrade.strategy.params import P_INITIAL_CASH
from adaptrade.strategy.state import E_CLOSED, E_RETURN, EVENT_SIZE, S_LAST_EQUITY, STATE_SIZE

_SQRT_DAYS = math.sqrt(252.0)  # stats.returns.TRADING_DAYS, as `sharpe` multiplies by it
# The strategy step itself (its Python source compiled again), inlined into the loop below: as a call
# it cost about a third of the fixed strategy's time per bar here. Same source, same operations.
_step = njit(_nrt=False, inline="always")(strategy_kernel.step.py_func)


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def sweep_block(
    open_: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    rsi: np.ndarray,
    vol: np.ndarray,
    buy_hold: np.ndarray,
    params: np.ndarray,
    states0: np.ndarray,
    rf_daily: float,
    total: np.ndarray,
    sharpe: np.ndarray,
    wins: np.ndarray,
    closed: np.ndarray,
    xsum: np.ndarray,
    xcnt: np.ndarray,
    rsi_t: np.ndarray,
    state: np.ndarray,
    event: np.ndarray,
    eqb: np.ndarray,
) -> None:
    """Run every configuration (rows of `params`, starting states `states0`) on every stock.

    Inputs are the [symbol, t] bars, the [symbol, period, t] RSI stack, the volatility and the
    buy-and-hold daily returns. Outputs, [config, symbol]: `total` return and annualised `sharpe`
    (as stock_metrics), `wins` and `closed` trades (as its win rate counts them); [config, t]:
    `xsum` (pre-filled with -0.0) += each stock's finite daily excess (0.0 otherwise) in stock
    order, `xcnt` += 1 where finite, i.e. numpy's nanmean over stocks before the division.
    Scratch (no allocation: compiled without NRT): `rsi_t` [t, period], `state`, `event`, `eqb` [t].

    Per (stock, configuration) two passes: the strategy steps into `eqb` (the equity at each
    close), then the statistics over it (two tight loops ran ~15-40% faster than one mixed loop).
    """
    n_sym, n_t = close.shape
    n_p = rsi.shape[1]
    n_c = params.shape[0]
    for i in range(n_sym):
        for k in range(n_p):  # this stock's RSI as [t, period]: one contiguous row per bar
            for t in range(n_t):
                rsi_t[t, k] = rsi[i, k, t]
        for c in range(n_c):
            prm = params[c]
            for k in range(STATE_SIZE):
                state[k] = states0[c, k]
            n_closed = 0
            n_wins = 0
            for t in range(n_t):  # the strategy: the per-stock backtest's step, bar by bar
                _step(state, prm, t, open_[i, t], close[i, t], valid[i, t], rsi_t[t], vol[i, t], t == n_t - 1, event)
                eqb[t] = state[S_LAST_EQUITY]
                if event[E_CLOSED] != 0.0:
                    n_closed += 1
                    if event[E_RETURN] > 0.0:
                        n_wins += 1
            closed[c, i] = n_closed
            wins[c, i] = n_wins
            first = -1
            prev = 0.0  # equity at the previous valid bar (stock_metrics' returns)
            last_eq = 0.0
            prev_ok = 0.0  # equity at the previous valid bar with a finite value (verdict.daily_returns)
            has_ok = False
            m = 0  # Welford mean/std of the returns: the operations of stats.returns._mean_std, in its order
            mean = 0.0
            m2 = 0.0
            for t in range(n_t):
                d = np.nan
                if valid[i, t]:
                    eq = eqb[t]
                    if first < 0:
                        first = t
                    else:
                        y = (eq / prev - 1.0) - rf_daily
                        m += 1
                        dm = y - mean
                        mean += dm / m
                        m2 += dm * (y - mean)
                    prev = eq
                    last_eq = eq
                    if math.isfinite(eq):
                        if has_ok:
                            d = (eq / prev_ok - 1.0) - buy_hold[i, t]
                        prev_ok = eq
                        has_ok = True
                ok = math.isfinite(d)
                xsum[c, t] += d if ok else 0.0
                xcnt[c, t] += ok
            if first < 0:
                total[c, i] = np.nan
                sharpe[c, i] = np.nan
                continue
            total[c, i] = last_eq / prm[P_INITIAL_CASH] - 1.0
            sd = math.sqrt(m2 / (m - 1)) if m >= 2 else np.nan
            sharpe[c, i] = mean / sd * _SQRT_DAYS if sd > 0.0 else np.nan


def run_block(open_: np.ndarray, close: np.ndarray, valid: np.ndarray, rsi: np.ndarray, vol: np.ndarray,
              buy_hold: np.ndarray, params: np.ndarray, states0: np.ndarray, rf_daily: float) -> dict[str, np.ndarray]:
    """Allocate the outputs and scratch for one block of configurations and run `sweep_block` (GIL released).

    Returns [config, symbol] `total`, `sharpe`, `wins`, `closed` and [config, t] `xsum`, `xcnt`.
    """
    n_c = params.shape[0]
    n_sym, n_t = close.shape
    out = {"total": np.empty((n_c, n_sym)), "sharpe": np.empty((n_c, n_sym)),
           "wins": np.empty((n_c, n_sym), dtype=np.int64), "closed": np.empty((n_c, n_sym), dtype=np.int64),
           "xsum": np.full((n_c, n_t), -0.0), "xcnt": np.zeros((n_c, n_t), dtype=np.int32)}
    if n_c and n_sym and n_t:
        sweep_block(open_, close, valid, rsi, vol, buy_hold, np.ascontiguousarray(params), np.ascontiguousarray(states0),
                    float(rf_daily), out["total"], out["sharpe"], out["wins"], out["closed"], out["xsum"], out["xcnt"],
                    np.empty((n_t, rsi.shape[1])), np.empty(STATE_SIZE), np.zeros(EVENT_SIZE), np.empty(n_t))
    return out
