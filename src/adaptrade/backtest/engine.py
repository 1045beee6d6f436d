"""Per-stock all-in backtest: features once, one compiled loop, columnar results out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptrade.backtest.threads import default_threads, map_row_blocks
from adaptrade.backtest.kernel import (
    C_SYMBOL,
    CHANGE_LOG_FIELDS,
    T_SYMBOL,
    TRADE_FIELDS,
    VOL_DAYS,
    VOL_WINDOW,
    run_all_in,
    run_all_in_fused,
)
from adaptrade.data.bars import Bars
from adaptrade.strategy.kernel import initial_state
from adaptrade.strategy.params import P_RSI_ROW0, PERIODS, StrategyConfig
from adaptrade.strategy.state import EVENT_SIZE, STATE_SIZE


@dataclass(frozen=True)
class Features:
    """Precomputed, past-only inputs of the strategy: RSI for periods first_period.. and volatility."""

    rsi: np.ndarray  # [symbol, period index, t]; row k is RSI(first_period + k)
    vol: np.ndarray  # [symbol, t], annualised 20-day volatility of log returns
    first_period: int = PERIODS[0]

    @classmethod
    def compute(cls, bars: Bars, periods: tuple[int, ...] = PERIODS) -> "Features":
        """RSI for consecutive `periods` (all of 10..21 by default) and the 20-day volatility."""
        from adaptrade.data.features import rolling_volatility, rsi_stack

        if list(periods) != list(range(periods[0], periods[0] + len(periods))):
            raise ValueError("Features.compute needs consecutive RSI periods")
        n, t = bars.close.shape
        rsi, vol = np.empty((n, len(periods), t)), np.empty((n, t))

        def block(lo: int, hi: int) -> None:  # rows are independent: row blocks on threads give the same bits
            rsi_stack(bars.close[lo:hi], bars.valid[lo:hi], periods, out=rsi[lo:hi])
            rolling_volatility(bars.close[lo:hi], bars.valid[lo:hi], VOL_WINDOW, VOL_DAYS, out=vol[lo:hi])

        map_row_blocks(n, default_threads(n, t), block)
        return cls(rsi=rsi, vol=vol, first_period=int(periods[0]))

    @classmethod
    def for_config(cls, bars: Bars, config: StrategyConfig) -> "Features":
        """Only what `config` reads: the fixed strategy needs one RSI period, the adaptive one all twelve."""
        return cls.compute(bars, (config.rsi_period,) if config.kind == "fixed" else PERIODS)

    def covers(self, config: StrategyConfig) -> bool:
        """True when every RSI period `config` may read is in this stack."""
        lo, hi = self.first_period, self.first_period + self.rsi.shape[1] - 1
        if config.kind == "fixed":
            return lo <= config.rsi_period <= hi
        return lo <= PERIODS[0] and hi >= PERIODS[-1]


@dataclass(frozen=True)
class EngineOutput:
    """Raw kernel output: arrays indexed like the input bars, plus trade and change records."""

    bars: Bars
    config: StrategyConfig
    equity: np.ndarray  # [symbol, t] account value at each close
    signal: np.ndarray  # [symbol, t] int8: +1 buy / -1 sell signal issued at t's close
    in_market: np.ndarray  # [symbol, t] bool: holding shares at t's close
    trades: np.ndarray  # [k, TRADE_FIELDS] (see kernel.T_*), exit_t = -1 for open trades
    changes: np.ndarray  # [m, CHANGE_LOG_FIELDS] (see kernel.C_*)
    final_states: np.ndarray | None = None  # [symbol, STATE_SIZE] strategy states after the last bar


def initial_states(n: int, config: StrategyConfig) -> np.ndarray:
    """Fresh strategy states for `n` stocks: flat, starting parameters, nothing learned."""
    row = initial_state(config.to_vector())
    return np.repeat(row[None, :], n, axis=0)


VECTOR_LANES = 8  # doubles per AVX-512 register (two AVX2 iterations): a bar's RSI recursions run in these


def _padded(periods: np.ndarray) -> np.ndarray:
    """`periods` padded with copies of the last one to a multiple of VECTOR_LANES (several periods only): the compiled
    loop over a bar's periods then has no scalar remainder. The copies are never read (the strategy reads
    RSI(period) at row period - periods[0])."""
    if len(periods) < 2 or len(periods) % VECTOR_LANES == 0:
        return periods
    extra = VECTOR_LANES - len(periods) % VECTOR_LANES
    return np.concatenate([periods, np.full(extra, periods[-1], dtype=np.int64)])


def run_backtest(
    bars: Bars,
    config: StrategyConfig,
    features: Features | None = None,
    states: np.ndarray | None = None,
    threads: int | None = None,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> EngineOutput:
    """Run every symbol of `bars` on its own all-in account with `config`.

    `states` ([symbol, STATE_SIZE]) starts each stock from a given strategy state (e.g. what
    was learned in-sample); it is not modified. The final states come back in the output.
    Without `features`, each stock's features are computed inside the compiled loop, just before its bars (the
    values of `Features.for_config`, kept in the CPU's cache instead of memory). `threads` (default:
    `default_threads`) splits the stocks into that many contiguous blocks run side by side (features and kernel
    release the GIL; each block writes its rows of the outputs in place); the result is one thread's, bit for bit.
    `out` = (equity, signal, in_market) [symbol, t] arrays to write into instead of new ones (e.g. a batch's rows
    of the whole run's arrays, so merging batches copies nothing).
    """
    if features is not None and not features.covers(config):
        raise ValueError(f"features hold RSI {features.first_period}..{features.first_period + features.rsi.shape[1] - 1}, "
                         f"not what {config.kind} RSI({config.rsi_period}) reads")
    n, t = bars.close.shape
    if out is None:
        equity, signal, in_market = np.empty((n, t), dtype=np.float64), np.empty((n, t), dtype=np.int8), np.empty((n, t), dtype=np.bool_)
    else:
        equity, signal, in_market = out
        for a, dtype in zip(out, (np.float64, np.int8, np.bool_)):
            if a.shape != (n, t) or a.dtype != dtype:
                raise ValueError(f"out arrays must be {(n, t)} float64 / int8 / bool, got {a.shape} {a.dtype}")
    open_ = np.ascontiguousarray(bars.open)
    close = np.ascontiguousarray(bars.close)
    valid = np.ascontiguousarray(bars.valid)
    start = initial_states(n, config) if states is None else np.array(states, dtype=np.float64)
    if start.shape != (n, STATE_SIZE):
        raise ValueError(f"states must have shape {(n, STATE_SIZE)}, got {start.shape}")
    final = np.empty_like(start)

    periods = np.asarray((config.rsi_period,) if config.kind == "fixed" else PERIODS, dtype=np.int64)
    lanes = _padded(periods)  # the in-loop RSI's periods, padded to whole vector registers

    def rows(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Stocks lo..hi-1: their trade and change records (stock indices of the whole universe)."""
        params = config.to_vector()
        params[P_RSI_ROW0] = (features.first_period if features is not None else periods[0]) - PERIODS[0]
        cap_tr = cap_ch = max(64, (hi - lo) * max(t // 8, 8))
        if features is None:  # computed stock by stock inside the loop (what Features.for_config would give)
            fvalid = valid[lo:hi] & np.isfinite(close[lo:hi])
            scratch = (np.empty((int(lanes.max()) + 1, len(lanes))), np.empty((2, t)), np.empty(t, dtype=np.int64),
                       np.empty((5, len(lanes))))
        while True:
            work = start[lo:hi].copy()
            trades = np.empty((cap_tr, TRADE_FIELDS), dtype=np.float64)
            changes = np.empty((cap_ch, CHANGE_LOG_FIELDS), dtype=np.float64)
            if features is None:
                nt, nc = run_all_in_fused(open_[lo:hi], close[lo:hi], valid[lo:hi], fvalid, lanes, params, work, equity[lo:hi],
                                          signal[lo:hi], in_market[lo:hi], trades, changes, np.zeros(EVENT_SIZE), *scratch)
            else:
                nt, nc = run_all_in(open_[lo:hi], close[lo:hi], valid[lo:hi], features.rsi[lo:hi], features.vol[lo:hi], params,
                                    work, equity[lo:hi], signal[lo:hi], in_market[lo:hi], trades, changes, np.zeros(EVENT_SIZE))
            if nt <= cap_tr and nc <= cap_ch:
                break
            cap_tr, cap_ch = max(cap_tr, nt), max(cap_ch, nc)
        final[lo:hi] = work
        trades, changes = trades[:nt].copy(), changes[:nc].copy()
        trades[:, T_SYMBOL] += lo
        changes[:, C_SYMBOL] += lo
        return trades, changes

    parts = map_row_blocks(n, threads if threads is not None else default_threads(n, t), rows)
    k = len(parts)
    return EngineOutput(
        bars=bars,
        config=config,
        equity=equity,
        signal=signal,
        in_market=in_market,
        trades=np.concatenate([p[0] for p in parts]) if k > 1 else parts[0][0],
        changes=np.concatenate([p[1] for p in parts]) if k > 1 else parts[0][1],
        final_states=final,
    )
