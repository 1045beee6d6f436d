"""The per-stock strategy state: a flat float64 vector, so it is cheap in the compiled loop
and can be saved after every event and restored after a crash (paper trading)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptrade.strategy.params import PERIOD_MIN

# Layout of the state vector.
S_SHARES = 0  # shares held (0 when flat)
S_CASH = 1
S_ENTRY_PRICE = 2  # fill price of the open position (after slippage)
S_ENTRY_COST = 3  # cash paid for it, commission included
S_ENTRY_T = 4  # bar index of the entry fill
S_PERIOD_IDX = 5  # RSI period - 10: row of the RSI stack read
S_BUY = 6
S_SELL = 7
S_VOL_SCALAR = 8
S_EMA_RETURN = 9
S_EMA_VOL = 10
S_EMA_WIN = 11  # EMA of the win indicator: the online win rate
S_N_TRADES = 12  # closed trades seen
S_N_WINS = 13
S_PENDING = 14  # +1 buy / -1 sell waiting for the next open, 0 none
S_SIGNAL_T = 15  # bar of the pending signal
S_LAST_EQUITY = 16
STATE_SIZE = 17
# what a strategy has learned (carried into a later period: walk-forward `carry`, the Kelly warm-up source)
LEARNED_SLOTS = (S_PERIOD_IDX, S_BUY, S_SELL, S_VOL_SCALAR, S_EMA_RETURN, S_EMA_VOL, S_EMA_WIN, S_N_TRADES, S_N_WINS)

# Layout of the event vector a step fills in (what happened on this bar).
E_SIGNAL = 0  # +1 buy signal, -1 sell signal issued at this close
E_FILL = 1  # +1 buy filled, -1 sell filled on this bar
E_FILL_PRICE = 2
E_FILL_SHARES = 3
E_CLOSED = 4  # 1 when a trade closed on this bar
E_ENTRY_T = 5
E_ENTRY_PRICE = 6
E_PNL = 7
E_RETURN = 8
E_N_CHANGES = 9
E_CHANGES = 10  # then 4 slots of (param id, old, new, reason)
CHANGE_FIELDS = 4
MAX_CHANGES = 4
EVENT_SIZE = E_CHANGES + CHANGE_FIELDS * MAX_CHANGES

# Parameter ids and reasons in the change log.
PARAM_NAMES = ("rsi_period", "buy_threshold", "sell_threshold", "vol_scalar")
REASONS = (
    "",
    "win rate above 70%: faster RSI (period - 1)",
    "win rate below 40%: slower RSI (period + 1)",
    "mean trade return above 1%: tighten thresholds",
    "mean trade return below -0.5%: loosen thresholds",
    "volatility regime: current vol / EMA vol",
)



@dataclass(frozen=True)
class OnlineLearningStats:
    """What the strategy has learned from its closed trades (a read-only view of the state)."""

    ema_return: float
    ema_volatility: float
    win_rate: float
    trades: int
    wins: int

    @classmethod
    def from_state(cls, state: np.ndarray) -> "OnlineLearningStats":
        return cls(
            ema_return=float(state[S_EMA_RETURN]),
            ema_volatility=float(state[S_EMA_VOL]),
            win_rate=float(state[S_EMA_WIN]),
            trades=int(state[S_N_TRADES]),
            wins=int(state[S_N_WINS]),
        )


@dataclass(frozen=True)
class CurrentParams:
    """The parameters the strategy uses right now."""

    rsi_period: int
    buy: float
    sell: float
    vol_scalar: float

    @classmethod
    def from_state(cls, state: np.ndarray) -> "CurrentParams":
        return cls(
            rsi_period=int(state[S_PERIOD_IDX]) + PERIOD_MIN,
            buy=float(state[S_BUY]),
            sell=float(state[S_SELL]),
            vol_scalar=float(state[S_VOL_SCALAR]),
        )
