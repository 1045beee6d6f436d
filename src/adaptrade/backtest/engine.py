"""Per-stock all-in backtest: features once, one compiled loop, columnar results out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptrade.backtest.kernel import CHANGE_LOG_FIELDS, TRADE_FIELDS, run_all_in
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
        rsi = rsi_stack(bars.close, bars.valid, periods)
        return cls(rsi=rsi, vol=rolling_volatility(bars.close, bars.valid, 20), first_period=int(periods[0]))

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


def run_backtest(
    bars: Bars,
    config: StrategyConfig,
    features: Features | None = None,
    states: np.ndarray | None = None,
) -> EngineOutput:
    """Run every symbol of `bars` on its own all-in account with `config`.

    `states` ([symbol, STATE_SIZE]) starts each stock from a given strategy state (e.g. what
    was learned in-sample); it is not modified. The final states come back in the output.
    """
    feats = features if features is not None else Features.for_config(bars, config)
    if not feats.covers(config):
        raise ValueError(f"features hold RSI {feats.first_period}..{feats.first_period + feats.rsi.shape[1] - 1}, not what {config.kind} RSI({config.rsi_period}) reads")
    n, t = bars.close.shape
    equity = np.empty((n, t), dtype=np.float64)
    signal = np.empty((n, t), dtype=np.int8)
    in_market = np.empty((n, t), dtype=np.bool_)
    cap_tr = max(64, n * max(t // 8, 8))
    cap_ch = cap_tr
    params = config.to_vector()
    params[P_RSI_ROW0] = feats.first_period - PERIODS[0]
    open_ = np.ascontiguousarray(bars.open)
    close = np.ascontiguousarray(bars.close)
    valid = np.ascontiguousarray(bars.valid)
    start = initial_states(n, config) if states is None else np.array(states, dtype=np.float64)
    if start.shape != (n, STATE_SIZE):
        raise ValueError(f"states must have shape {(n, STATE_SIZE)}, got {start.shape}")
    while True:
        work = start.copy()
        trades = np.empty((cap_tr, TRADE_FIELDS), dtype=np.float64)
        changes = np.empty((cap_ch, CHANGE_LOG_FIELDS), dtype=np.float64)
        nt, nc = run_all_in(open_, close, valid, feats.rsi, feats.vol, params, work, equity, signal, in_market, trades, changes, np.zeros(EVENT_SIZE))
        if nt <= cap_tr and nc <= cap_ch:
            break
        cap_tr = max(cap_tr, nt)
        cap_ch = max(cap_ch, nc)
    return EngineOutput(
        bars=bars,
        config=config,
        equity=equity,
        signal=signal,
        in_market=in_market,
        trades=trades[:nt].copy(),
        changes=changes[:nc].copy(),
        final_states=work,
    )
