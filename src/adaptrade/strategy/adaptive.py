"""`AdaptiveRSIStrategy`: one stock's strategy object, stepped bar by bar from Python (paper
trading), and `StrategyEnsemble`, which runs many of them. Both call the same compiled `step`
as the backtest kernel, so a live run and a backtest over the same bars take the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from adaptrade.strategy.kernel import initial_state, step
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

VOL_WINDOW = 20


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

    Features are computed from the stored history of valid closes with the same functions the
    backtest uses (past-only), and the decision is the compiled `step`: parity by construction.
    """

    def __init__(self, symbol: str, config: StrategyConfig, state: np.ndarray | None = None) -> None:
        self.symbol = symbol
        self.config = config
        self.params = config.to_vector()
        # a fixed period outside the adaptive 10..21 stack reads its own one-row stack (issue 11: RSI(2))
        self._periods = PERIODS if PERIODS[0] <= config.rsi_period <= PERIODS[-1] else (int(config.rsi_period),)
        self.params[P_RSI_ROW0] = self._periods[0] - PERIODS[0]
        self.state = initial_state(self.params) if state is None else np.array(state, dtype=np.float64)
        self._closes: list[float] = []
        self._event = np.zeros(EVENT_SIZE, dtype=np.float64)
        self._t = 0

    @property
    def stats(self) -> OnlineLearningStats:
        return OnlineLearningStats.from_state(self.state)

    @property
    def current(self) -> CurrentParams:
        return CurrentParams.from_state(self.state)

    @property
    def shares(self) -> float:
        return float(self.state[S_SHARES])

    def _features(self) -> tuple[np.ndarray, float]:
        from adaptrade.data.features import rolling_volatility, rsi_stack

        hist = np.asarray(self._closes, dtype=np.float64)[None, :]
        ones = np.ones(hist.shape, dtype=np.bool_)
        rsi = rsi_stack(hist, ones, self._periods)[0, :, -1].copy()
        tail = hist[:, -(VOL_WINDOW + 1) :]
        vol = float(rolling_volatility(tail, np.ones(tail.shape, dtype=np.bool_), VOL_WINDOW)[0, -1])
        return rsi, vol

    def on_bar(self, date: np.datetime64 | str, open_: float, close: float, valid: bool = True) -> BarDecision:
        """Feed one daily bar (after its close); returns what the strategy did on it."""
        d = np.datetime64(date, "D")
        if valid:
            self._closes.append(float(close))
            rsi, vol = self._features()
        else:
            rsi, vol = np.full(len(self._periods), np.nan), np.nan
        ev = self._event
        sig = step(self.state, self.params, self._t, float(open_), float(close), bool(valid), rsi, vol, False, ev)
        self._t += 1
        changes = tuple(
            ParamChange(
                symbol=self.symbol,
                date=d,
                parameter=PARAM_NAMES[int(ev[E_CHANGES + CHANGE_FIELDS * k])],
                old_value=float(ev[E_CHANGES + CHANGE_FIELDS * k + 1]),
                new_value=float(ev[E_CHANGES + CHANGE_FIELDS * k + 2]),
                reason=REASONS[int(ev[E_CHANGES + CHANGE_FIELDS * k + 3])],
            )
            for k in range(int(ev[E_N_CHANGES]))
        )
        return BarDecision(
            symbol=self.symbol,
            date=d,
            signal=int(sig),
            fill=int(ev[E_FILL]),
            fill_price=float(ev[E_FILL_PRICE]),
            fill_shares=float(ev[E_FILL_SHARES]),
            trade_closed=bool(ev[E_CLOSED]),
            trade_pnl=float(ev[E_PNL]),
            trade_return=float(ev[E_RETURN]),
            entry_price=float(ev[E_ENTRY_PRICE]),
            changes=changes,
        )

    def snapshot(self) -> dict[str, object]:
        """Plain numbers to save after every event and restore after a crash."""
        return {"symbol": self.symbol, "state": self.state.tolist(), "closes": list(self._closes), "t": self._t}

    @classmethod
    def restore(cls, snap: dict[str, object], config: StrategyConfig) -> "AdaptiveRSIStrategy":
        """Rebuild a strategy from `snapshot()` output."""
        s = cls(str(snap["symbol"]), config, np.asarray(snap["state"], dtype=np.float64))
        s._closes = [float(x) for x in snap["closes"]]  # type: ignore[union-attr]
        s._t = int(snap["t"])  # type: ignore[arg-type]
        return s


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
