"""Strategy parameters, their bounds, and the flat float64 vector the compiled step reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# Bounds of the adaptive parameters (the brief's ranges).
PERIOD_MIN, PERIOD_MAX = 10, 21
FIXED_PERIOD_MIN, FIXED_PERIOD_MAX = 2, 252  # the fixed strategy reads one RSI of its own period
PERIODS = tuple(range(PERIOD_MIN, PERIOD_MAX + 1))  # rows of the precomputed RSI stack
BUY_MIN, BUY_MAX = 20.0, 35.0
SELL_MIN, SELL_MAX = 65.0, 80.0
SCALAR_MIN, SCALAR_MAX = 0.5, 2.0

# Online-learning rule thresholds (issue text; see docs/strategy.md).
WIN_RATE_FAST = 0.70  # above: RSI period - 1
WIN_RATE_SLOW = 0.40  # below: RSI period + 1
RETURN_TIGHTEN = 0.01  # EMA trade return above: tighten thresholds
RETURN_LOOSEN = -0.005  # EMA trade return below: loosen thresholds

# Layout of the params vector handed to the compiled step.
P_ADAPTIVE = 0
P_ALPHA = 1
P_MIN_TRADES = 2
P_STEP = 3
P_COMMISSION = 4  # fraction of notional
P_SLIPPAGE = 5  # fraction of price
P_WHOLE_SHARES = 6
P_FILL_CLOSE = 7
P_INITIAL_CASH = 8
P_PERIOD0 = 9
P_BUY0 = 10
P_SELL0 = 11
P_RSI_ROW0 = 12  # RSI period - 10 of the first row of the RSI stack handed in (0: the full 10..21 stack)
PARAMS_SIZE = 13

StrategyKind = Literal["adaptive", "fixed"]


@dataclass(frozen=True)
class StrategyConfig:
    """Starting parameters, learning settings and execution costs of one RSI strategy."""

    kind: StrategyKind = "adaptive"
    rsi_period: int = 14
    buy: float = 30.0
    sell: float = 70.0
    learning_alpha: float = 0.2
    min_trades_to_adapt: int = 5
    threshold_step: float = 1.0
    commission_bps: float = 1.0
    slippage_bps: float = 5.0
    whole_shares: bool = False
    fill: Literal["next_open", "close"] = "next_open"
    initial_cash: float = 100_000.0

    def __post_init__(self) -> None:
        from adaptrade.errors import ConfigError

        if self.kind == "fixed":  # any classic period (RSI(2) included); the 10..21 bounds are the adaptive range
            if int(self.rsi_period) != self.rsi_period or not FIXED_PERIOD_MIN <= self.rsi_period <= FIXED_PERIOD_MAX:
                raise ConfigError(f"RSI period must be an integer in {FIXED_PERIOD_MIN}..{FIXED_PERIOD_MAX} for the fixed strategy",
                                  field="rsi_period")
        elif not PERIOD_MIN <= self.rsi_period <= PERIOD_MAX:
            raise ConfigError(f"RSI period must be in {PERIOD_MIN}..{PERIOD_MAX} for the adaptive strategy "
                              f"(--strategy fixed takes any period {FIXED_PERIOD_MIN}..{FIXED_PERIOD_MAX})", field="rsi_period")
        if self.kind == "adaptive":
            if not BUY_MIN <= self.buy <= BUY_MAX:
                raise ConfigError(f"buy threshold must be in {BUY_MIN:g}..{BUY_MAX:g} for the adaptive strategy", field="buy")
            if not SELL_MIN <= self.sell <= SELL_MAX:
                raise ConfigError(f"sell threshold must be in {SELL_MIN:g}..{SELL_MAX:g} for the adaptive strategy", field="sell")
        if not 0.0 < self.buy < self.sell < 100.0:
            raise ConfigError("thresholds must satisfy 0 < buy < sell < 100", field="buy")
        for name in ("commission_bps", "slippage_bps"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1000.0:
                raise ConfigError(f"{name.replace('_', '-')} must be between 0 and 1000 basis points, got {v:g}", field=name)
        if not 0.0 < self.learning_alpha <= 1.0:
            raise ConfigError("learning alpha must be in (0, 1]", field="learning_alpha")
        if self.min_trades_to_adapt < 1:
            raise ConfigError("min trades to adapt must be at least 1", field="min_trades_to_adapt")
        if not 0.0 < self.threshold_step <= 5.0:
            raise ConfigError("threshold step must be in (0, 5]", field="threshold_step")
        if self.fill not in ("next_open", "close"):
            raise ConfigError("fill must be next_open or close", field="fill")
        if self.initial_cash <= 0:
            raise ConfigError("initial cash must be positive", field="initial_cash")

    def to_vector(self) -> np.ndarray:
        """The params as the float64 vector the compiled step reads."""
        v = np.zeros(PARAMS_SIZE, dtype=np.float64)
        v[P_ADAPTIVE] = 1.0 if self.kind == "adaptive" else 0.0
        v[P_ALPHA] = self.learning_alpha
        v[P_MIN_TRADES] = self.min_trades_to_adapt
        v[P_STEP] = self.threshold_step
        v[P_COMMISSION] = self.commission_bps / 1e4
        v[P_SLIPPAGE] = self.slippage_bps / 1e4
        v[P_WHOLE_SHARES] = 1.0 if self.whole_shares else 0.0
        v[P_FILL_CLOSE] = 1.0 if self.fill == "close" else 0.0
        v[P_INITIAL_CASH] = self.initial_cash
        v[P_PERIOD0] = self.rsi_period
        v[P_BUY0] = self.buy
        v[P_SELL0] = self.sell
        return v

    def describe(self) -> dict[str, object]:
        """Plain dict for summaries and the run store."""
        return {
            "strategy": self.kind,
            "rsi_period": self.rsi_period,
            "buy": self.buy,
            "sell": self.sell,
            "learning_alpha": self.learning_alpha,
            "min_trades_to_adapt": self.min_trades_to_adapt,
            "threshold_step": self.threshold_step,
            "commission_bps": self.commission_bps,
            "slippage_bps": self.slippage_bps,
            "whole_shares": self.whole_shares,
            "fill": self.fill,
            "fill_note": "optimistic: fills at the signal bar's close" if self.fill == "close" else "signal at close t, fill at open t+1",
            "initial_cash": self.initial_cash,
        }
