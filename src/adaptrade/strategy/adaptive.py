"""`AdaptiveRSIStrategy`: one stock's strategy object, stepped bar by bar from Python (paper
trading), and `StrategyEnsemble`, which runs many of them. Both call the same compiled `step`
as the backtest kernel, so a live run and a backtest over the same bars take the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from adaptrade.strategy.incremental import F_N, F_PREV, F_T, feature_size, feature_update, new_features, step_many, step_one
from adaptrade.strategy.kernel import initial_state
from adaptrade.strategy.params import P_RSI_ROW0, PERIODS, StrategyConfig
from adaptrade.strategy.state import (
    CHANGE_FIELDS,
    E_CHANGES,
    E_CLOSED,
    E_ENTRY_PRICE,
    E_FILL,
    E_FILL_PRICE,
    E_FILL_SHARES,
    E_N_CHANGES,
    E_PNL,
    E_RETURN,
    EVENT_SIZE,
    PARAM_NAMES,
    REASONS,
    S_SHARES,
    CurrentParams,
    OnlineLearningStats,
)


@dataclass(frozen=True)
class ParamChange:
    """One logged parameter move: what changed, from what to what, and why."""

    symbol: str
    date: np.datetime64
    parameter: str
    old_value: float
    new_value: float
    reason: str


@dataclass(frozen=True)
class BarDecision:
    """What one bar did: the signal at its close, a fill at its open (or close), a closed trade."""

    symbol: str
    date: np.datetime64
    signal: int
    fill: int
    fill_price: float
    fill_shares: float
    trade_closed: bool
    trade_pnl: float
    trade_return: float
    entry_price: float
    changes: tuple[ParamChange, ...]


class AdaptiveRSIStrategy:
    """The adaptive RSI strategy for one stock, driven one bar at a time.

    Features are kept incrementally (`strategy/incremental.py`: the Wilder RSI recursions and the last
    20 returns, bit-identical to the backtest's full-history functions), and the decision is the
    compiled `step`: parity by construction, O(1) per bar, and a snapshot that does not grow.
    """

    def __init__(self, symbol: str, config: StrategyConfig, state: np.ndarray | None = None,
                 features: np.ndarray | None = None) -> None:
        self.symbol = symbol
        self.config = config
        self.params = config.to_vector()
        # a fixed period outside the adaptive 10..21 stack reads its own one-row stack (issue 11: RSI(2))
        self._periods = PERIODS if PERIODS[0] <= config.rsi_period <= PERIODS[-1] else (int(config.rsi_period),)
        self._period_arr = np.asarray(self._periods, dtype=np.int64)
        self.params[P_RSI_ROW0] = self._periods[0] - PERIODS[0]
        self.state = initial_state(self.params) if state is None else np.array(state, dtype=np.float64)
        self._feat = new_features(len(self._periods)) if features is None else np.array(features, dtype=np.float64)
        if self._feat.shape != (feature_size(len(self._periods)),):
            raise ValueError(f"{symbol}: feature vector of {self._feat.shape} does not fit {len(self._periods)} RSI periods")
        self._rsi = np.empty(len(self._periods), dtype=np.float64)
        self._event = np.zeros(EVENT_SIZE, dtype=np.float64)

    @property
    def _t(self) -> int:
        """Bars fed so far (the step's bar index of the next bar)."""
        return int(self._feat[F_T])

    @property
    def last_close(self) -> float:
        """The last valid close seen (NaN before the first)."""
        return float(self._feat[F_PREV])

    @property
    def valid_bars(self) -> int:
        """Valid bars seen so far."""
        return int(self._feat[F_N])

    @property
    def stats(self) -> OnlineLearningStats:
        return OnlineLearningStats.from_state(self.state)

    @property
    def current(self) -> CurrentParams:
        return CurrentParams.from_state(self.state)

    @property
    def shares(self) -> float:
        return float(self.state[S_SHARES])

    def on_bar(self, date: np.datetime64 | str, open_: float, close: float, valid: bool = True) -> BarDecision:
        """Feed one daily bar (after its close); returns what the strategy did on it."""
        sig = step_one(self.state, self._feat, self.params, self._period_arr, float(open_), float(close), bool(valid),
                       self._rsi, self._event)
        return decision(self.symbol, np.datetime64(date, "D"), int(sig), self._event)

    def snapshot(self) -> dict[str, object]:
        """Plain numbers to save and restore after a crash: the state, the bar count and the bounded features."""
        return {"symbol": self.symbol, "state": self.state.tolist(), "t": self._t, "features": self._feat.tolist()}

    @classmethod
    def restore(cls, snap: dict[str, object], config: StrategyConfig) -> "AdaptiveRSIStrategy":
        """Rebuild a strategy from `snapshot()` output, or from the earlier format that kept every close
        (`closes`: the features are rebuilt by feeding them through the same recursion)."""
        feats = snap.get("features")
        s = cls(str(snap["symbol"]), config, np.asarray(snap["state"], dtype=np.float64),
                None if feats is None else np.asarray(feats, dtype=np.float64))
        if feats is None:
            for c in snap["closes"]:  # type: ignore[union-attr]
                feature_update(s._feat, s._period_arr, float(c), s._rsi)
            s._feat[F_T] = int(snap["t"])  # type: ignore[arg-type]
        return s


def decision(symbol: str, d: np.datetime64, sig: int, ev: np.ndarray) -> BarDecision:
    """A step's event vector as a `BarDecision`."""
    changes = tuple(
        ParamChange(
            symbol=symbol,
            date=d,
            parameter=PARAM_NAMES[int(ev[E_CHANGES + CHANGE_FIELDS * k])],
            old_value=float(ev[E_CHANGES + CHANGE_FIELDS * k + 1]),
            new_value=float(ev[E_CHANGES + CHANGE_FIELDS * k + 2]),
            reason=REASONS[int(ev[E_CHANGES + CHANGE_FIELDS * k + 3])],
        )
        for k in range(int(ev[E_N_CHANGES]))
    )
    return BarDecision(
        symbol=symbol,
        date=d,
        signal=sig,
        fill=int(ev[E_FILL]),
        fill_price=float(ev[E_FILL_PRICE]),
        fill_shares=float(ev[E_FILL_SHARES]),
        trade_closed=bool(ev[E_CLOSED]),
        trade_pnl=float(ev[E_PNL]),
        trade_return=float(ev[E_RETURN]),
        entry_price=float(ev[E_ENTRY_PRICE]),
        changes=changes,
    )


class StrategyBatch:
    """Many `AdaptiveRSIStrategy` of one config stepped together: their state, feature and event vectors
    become rows of three matrices (the strategies keep views of their rows), and one compiled call
    (`step_many`) steps every stock of a bar batch."""

    def __init__(self, strategies: list[AdaptiveRSIStrategy]) -> None:
        if not strategies:
            raise ValueError("a strategy batch needs at least one strategy")
        first = strategies[0]
        if any(s.config != first.config for s in strategies):
            raise ValueError("a strategy batch steps strategies of one config")
        self.params, self.periods = first.params, first._period_arr
        self.states = np.ascontiguousarray(np.stack([s.state for s in strategies]))
        self.feats = np.ascontiguousarray(np.stack([s._feat for s in strategies]))
        self.events = np.zeros((len(strategies), EVENT_SIZE), dtype=np.float64)
        self.signals = np.zeros(len(strategies), dtype=np.int64)
        self._rsi = np.empty(len(self.periods), dtype=np.float64)
        for i, s in enumerate(strategies):
            s.state, s._feat, s._event = self.states[i], self.feats[i], self.events[i]
        self.strategies = strategies

    def on_bars(self, open_: np.ndarray, close: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Step every stock (row order) with its bar of this session; returns the signals (a reused array)."""
        step_many(self.states, self.feats, self.params, self.periods, np.ascontiguousarray(open_, dtype=np.float64),
                  np.ascontiguousarray(close, dtype=np.float64), np.ascontiguousarray(valid, dtype=np.bool_),
                  self._rsi, self.events, self.signals)
        return self.signals

    def decision(self, i: int, date: np.datetime64) -> BarDecision:
        """What stock `i` did on the last batch."""
        return decision(self.strategies[i].symbol, date, int(self.signals[i]), self.events[i])


class StrategyEnsemble:
    """One `AdaptiveRSIStrategy` per stock, stepped together; collects each bar's signals.

    Reached only by tests today: the per-stock paper loop (`live/loop.py`) steps each
    `AdaptiveRSIStrategy` itself, so it can persist and check fills between stocks.
    """

    def __init__(self, symbols: Iterable[str], config: StrategyConfig) -> None:
        self.config = config
        self.members = {s: AdaptiveRSIStrategy(s, config) for s in symbols}

    def on_bars(self, date: np.datetime64 | str, bars: dict[str, tuple[float, float, bool]]) -> list[BarDecision]:
        """Step every member with its (open, close, valid) for `date`; missing symbols are invalid bars."""
        out = []
        for sym, strat in self.members.items():
            o, c, v = bars.get(sym, (np.nan, np.nan, False))
            out.append(strat.on_bar(date, o, c, v))
        return out

    def signals(self, decisions: list[BarDecision]) -> dict[str, int]:
        """The non-zero signals of one bar, by symbol (what a portfolio layer coordinates)."""
        return {d.symbol: d.signal for d in decisions if d.signal != 0}
