"""Per-stock performance metrics over the [symbol, t] equity array, computed by the one statistics
module (`adaptrade.stats`, conventions stated there: risk-free rate compounded daily over 252 days,
max drawdown negative, CAPM alpha annualised). Returns are simple daily returns of the account value
between consecutive valid bars; fractions, not percent.
"""

from __future__ import annotations


import numpy as np
from numba import njit

from adaptrade.backtest.engine import EngineOutput
from adaptrade.backtest.kernel import T_EXIT_T, T_RETURN, T_SYMBOL
from adaptrade.backtest.threads import default_threads, map_row_blocks
from adaptrade.stats import MAX_BENCHMARK_GAP, benchmark_return, daily_rf, value_at_or_before
from adaptrade.stats.returns import TRADING_DAYS, alpha_beta, annual_return, max_drawdown, sharpe_and_volatility, sortino

__all__ = ["MAX_BENCHMARK_GAP", "TRADING_DAYS", "bars_held", "stock_metrics"]
_value_at_or_before = value_at_or_before  # the one benchmark lookup (kept under its old name)
N_STATS = 11


@njit(cache=True, nogil=True)
def bars_held(valid: np.ndarray, sym: np.ndarray, entry_t: np.ndarray, exit_t: np.ndarray) -> np.ndarray:
    """Per trade: the stock's valid bars after its entry bar up to its exit bar (to its last bar while open),
    i.e. cumsum(valid)[exit] - cumsum(valid)[entry] without building the [symbol, t] cumsum."""
    out = np.empty(len(sym), dtype=np.int64)
    last = valid.shape[1] - 1
    for k in range(len(sym)):
        s = sym[k]
        hi = exit_t[k] if exit_t[k] >= 0 else last
        count = 0
        for t in range(entry_t[k] + 1, hi + 1):
            if valid[s, t]:
                count += 1
        out[k] = count
    return out


@njit(cache=True, nogil=True)
def _equity_stats(equity: np.ndarray, valid: np.ndarray, in_market: np.ndarray, initial: float, rf_daily: float,
                  bench: np.ndarray) -> np.ndarray:
    """Per row: total return, Sharpe, max drawdown, exposure, first and last valid index, Sortino,
    annual return, annual volatility, alpha, beta (bench: benchmark close at each bar, gap rule applied)."""
    n, t_len = equity.shape
    out = np.full((n, N_STATS), np.nan)
    r = np.empty(t_len + 1)  # r[0]: first valid value vs the initial cash (drawdown only), then the daily returns
    b = np.empty(t_len)
    for i in range(n):
        first = -1
        last = -1
        prev = initial
        prev_b = np.nan
        m = 0
        held = 0
        nvalid = 0
        for t in range(t_len):
            if not valid[i, t]:
                continue
            if first < 0:
                first = t
                r[0] = equity[i, t] / initial - 1.0
            else:
                r[m + 1] = equity[i, t] / prev - 1.0
                b[m] = bench[t] / prev_b - 1.0
                m += 1
            last = t
            nvalid += 1
            if in_market[i, t]:
                held += 1
            prev = equity[i, t]
            prev_b = bench[t]
        if first < 0:
            continue
        ri = r[1:m + 1]
        out[i, 0] = equity[i, last] / initial - 1.0
        out[i, 1], out[i, 8] = sharpe_and_volatility(ri, rf_daily)  # = sharpe(ri, rf_daily), annual_volatility(ri)
        out[i, 2] = max_drawdown(r[:m + 1])  # negative; the initial cash counts as a peak
        out[i, 3] = held / nvalid
        out[i, 4] = first
        out[i, 5] = last
        out[i, 6] = sortino(ri, rf_daily)
        out[i, 7] = annual_return(ri)
        a, be = alpha_beta(ri, b[:m], rf_daily)
        out[i, 9] = a
        out[i, 10] = be
    return out


def stock_metrics(
    equity: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    in_market: np.ndarray,
    trade_symbol: np.ndarray,
    trade_return: np.ndarray,
    trade_closed: np.ndarray,
    benchmark_close: np.ndarray | None,
    initial_cash: float,
    risk_free_rate: float = 0.0,
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Column arrays, one value per symbol: the metrics of stocks.csv (fractions, not percent).
    Every value is the stock's own, so the metrics of row blocks concatenated are the whole's."""
    n = equity.shape[0]
    rf_daily = daily_rf(risk_free_rate)
    t_len = equity.shape[1]
    bench_at = (value_at_or_before(benchmark_close, np.arange(t_len)) if benchmark_close is not None
                else np.full(t_len, np.nan))
    bench_c = np.ascontiguousarray(bench_at, dtype=np.float64)
    blocks = map_row_blocks(n, threads if threads is not None else default_threads(n, t_len), lambda lo, hi: _equity_stats(
        equity[lo:hi], valid[lo:hi], in_market[lo:hi], float(initial_cash), rf_daily, bench_c))  # stocks are independent
    st = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    first = np.nan_to_num(st[:, 4], nan=0).astype(np.intp)
    last = np.nan_to_num(st[:, 5], nan=0).astype(np.intp)
    has = np.isfinite(st[:, 4])
    rows = np.arange(n)
    bh = np.where(has, close[rows, last] / close[rows, first] - 1.0, np.nan)
    if benchmark_close is not None:
        bench = np.where(has, benchmark_return(benchmark_close, first, last), np.nan)
    else:
        bench = np.full(n, np.nan)
    closed_sym = trade_symbol[trade_closed].astype(np.intp)
    n_closed = np.bincount(closed_sym, minlength=n)
    n_wins = np.bincount(closed_sym, weights=(trade_return[trade_closed] > 0).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(n_closed > 0, n_wins / np.maximum(n_closed, 1), np.nan)
    total = st[:, 0]
    return {
        "total_return": total,
        "buy_hold_return": bh,
        "benchmark_return": bench,
        "outperformance": total - bench,
        "excess_vs_buy_hold": total - bh,
        "win_rate": win_rate,
        "sharpe": st[:, 1],
        "max_drawdown": st[:, 2],
        "trades": n_closed.astype(np.int64),
        "exposure": st[:, 3],
        "sortino": st[:, 6],
        "annual_return": st[:, 7],
        "annual_volatility": st[:, 8],
        "alpha": st[:, 9],
        "beta": st[:, 10],
        "first_index": first,
        "last_index": last,
    }


def engine_metrics(output: EngineOutput, benchmark_close: np.ndarray | None, risk_free_rate: float = 0.0,
                   threads: int | None = None) -> dict[str, np.ndarray]:
    """stock_metrics of one engine run (its trades' closed returns, its config's initial cash)."""
    bars, tr = output.bars, output.trades
    closed = tr[:, T_EXIT_T] >= 0
    return stock_metrics(output.equity, bars.close, bars.valid, output.in_market, tr[:, T_SYMBOL], tr[:, T_RETURN], closed,
                         benchmark_close, output.config.initial_cash, risk_free_rate, threads=threads)


def concat_metrics(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Row blocks' metrics in block order as one set (per-stock values, so the same as computing them at once)."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
