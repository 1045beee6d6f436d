"""Risk and execution limits of the portfolio mode as one frozen config and the float vector
the compiled portfolio loop reads (same pattern as strategy.params). The LIM_* indices are compiled
into the numba loop, so this file is part of the numba cache key (adaptrade.__init__)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from adaptrade.errors import ConfigError

# Layout of the risk/execution vector handed to the compiled portfolio loop.
(
    LIM_KELLY_FRACTION, LIM_KELLY_MIN_TRADES, LIM_MAX_POSITION, LIM_MAX_GROSS, LIM_STOP_PCT, LIM_STOP_VOL_K,
    LIM_MAX_DRAWDOWN, LIM_BREAKER_COOLDOWN, LIM_CORR_LIMIT, LIM_CORR_WINDOW, LIM_CORR_REFUSE, LIM_PARTICIPATION,
    LIM_IMPACT_K, LIM_MAX_ORDER_BARS, LIM_LIMIT_ABOVE_BPS, LIM_LIMIT_GTC, LIM_INITIAL_CASH, LIM_MIN_WEIGHT, LIM_SIZING_KELLY,
) = range(19)
RISK_SIZE = 19

# Codes of the rule that fired (risk event log, refusal/resize reasons); index = code.
RULES = (
    "",
    "kelly_warmup",  # 1: fewer closed trades than kelly_min_trades: Kelly size is zero
    "kelly_nonpositive",  # 2: Kelly fraction <= 0 (no edge): refused
    "max_position",  # 3: resized to the per-stock cap
    "correlation_scaled",  # 4: average correlation with the book above the limit: scaled down
    "correlation_refused",  # 5: ... and refused (corr_refuse, or scaled below min_weight)
    "max_gross",  # 6: resized to fit the gross exposure limit
    "cash",  # 7: resized to the cash available
    "drawdown_breaker",  # 8: refused: the drawdown circuit breaker is on
    "breaker_tripped",  # 9: drawdown past max_drawdown: breaker on
    "breaker_reset",  # 10: cooldown over: breaker off, peak re-based
    "stop_pct",  # 11: fixed-percentage stop-loss hit: exit
    "stop_vol",  # 12: volatility-scaled stop-loss hit: exit
    "too_small",  # 13: final size below min_weight: refused
    "unfilled",  # 14: order expired with quantity left (participation cap, limit not reached, no cash)
)


@dataclass(frozen=True)
class RiskLimits:
    """Sizing, stops, exposure, correlation and drawdown limits, and the daily execution model."""

    kelly_fraction: float = 0.25  # fraction of the full Kelly bet; 0 = size every entry at max_position
    kelly_min_trades: int = 5  # closed trades (real or paper) before Kelly sizes anything
    max_position: float = 0.10  # per-stock cap, share of equity
    max_gross: float = 1.0  # gross exposure cap, share of equity
    stop_loss_pct: float = 0.10  # fixed stop: exit below entry x (1 - pct); 0 = off
    stop_loss_vol_k: float = 3.0  # volatility stop: below entry x (1 - k x daily vol); 0 = off
    max_drawdown: float = 0.20  # breaker trips past this drawdown from the peak; inf = off
    breaker_cooldown: int = 20  # bars the breaker stays on before it resets (peak re-based)
    corr_limit: float = 0.7  # average correlation with the book above this scales the entry down; > 1 = off
    corr_window: int = 60  # bars of returns in the rolling correlation
    corr_refuse: bool = False  # True: refuse instead of scaling down
    participation: float = 0.10  # max share of a bar's volume one order takes; inf = no cap
    impact_k: float = 0.1  # square-root impact coefficient: k x daily vol x sqrt(qty / ADV)
    max_order_bars: int = 5  # bars a market / GTC order works before the rest is cancelled
    limit_above_bps: float = 25.0  # entries whose estimated crossing cost exceeds this go as limit orders
    limit_gtc: bool = False  # limit entries: GTC (up to max_order_bars) instead of day
    initial_cash: float = 100_000.0
    min_weight: float = 0.001  # entries sized below this share of equity are refused

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.kelly_fraction <= 1.0, "kelly_fraction", "must be in 0..1"),
            (self.kelly_min_trades >= 0, "kelly_min_trades", "must be >= 0"),
            (0.0 < self.max_position <= 1.0, "max_position", "must be in (0, 1]"),
            (0.0 < self.max_gross <= 1.0, "max_gross", "must be in (0, 1] (no leverage)"),
            (0.0 <= self.stop_loss_pct < 1.0, "stop_loss_pct", "must be in [0, 1)"),
            (self.stop_loss_vol_k >= 0.0, "stop_loss_vol_k", "must be >= 0"),
            (self.max_drawdown > 0.0, "max_drawdown", "must be > 0"),
            (self.breaker_cooldown >= 1, "breaker_cooldown", "must be >= 1"),
            (self.corr_limit > -1.0, "corr_limit", "must be > -1"),
            (self.corr_window >= 5, "corr_window", "must be >= 5"),
            (self.participation > 0.0, "participation", "must be > 0"),
            (self.impact_k >= 0.0, "impact_k", "must be >= 0"),
            (self.max_order_bars >= 1, "max_order_bars", "must be >= 1"),
            (self.initial_cash > 0.0, "initial_cash", "must be > 0"),
            (0.0 <= self.min_weight < 1.0, "min_weight", "must be in [0, 1)"),
        ]
        for ok, name, msg in checks:
            if not ok:
                raise ConfigError(f"{name} {msg}, got {getattr(self, name)}", field=name)

    @classmethod
    def off(cls, initial_cash: float = 100_000.0) -> RiskLimits:
        """No risk layer: all-in sizing, no stops, no caps below 100%, no breaker, no participation cap, no impact."""
        return cls(kelly_fraction=0.0, max_position=1.0, max_gross=1.0, stop_loss_pct=0.0, stop_loss_vol_k=0.0,
                   max_drawdown=math.inf, corr_limit=2.0, participation=math.inf, impact_k=0.0,
                   limit_above_bps=math.inf, initial_cash=initial_cash, min_weight=0.0, max_order_bars=10**6)

    @classmethod
    def from_settings(cls, settings: Any) -> RiskLimits:
        """The limits named in Settings (fields that exist there), defaults for the rest."""
        kw = {f: getattr(settings, f) for f in cls.__dataclass_fields__ if hasattr(settings, f)}
        return cls(**kw)

    def with_(self, **kw: Any) -> RiskLimits:
        """A copy with some fields changed."""
        return replace(self, **kw)

    def to_vector(self) -> np.ndarray:
        """The limits as the float64 vector the compiled portfolio loop reads."""
        v = np.zeros(RISK_SIZE, dtype=np.float64)
        v[LIM_KELLY_FRACTION] = self.kelly_fraction
        v[LIM_KELLY_MIN_TRADES] = self.kelly_min_trades
        v[LIM_MAX_POSITION] = self.max_position
        v[LIM_MAX_GROSS] = self.max_gross
        v[LIM_STOP_PCT] = self.stop_loss_pct
        v[LIM_STOP_VOL_K] = self.stop_loss_vol_k
        v[LIM_MAX_DRAWDOWN] = self.max_drawdown
        v[LIM_BREAKER_COOLDOWN] = self.breaker_cooldown
        v[LIM_CORR_LIMIT] = self.corr_limit
        v[LIM_CORR_WINDOW] = self.corr_window
        v[LIM_CORR_REFUSE] = 1.0 if self.corr_refuse else 0.0
        v[LIM_PARTICIPATION] = self.participation
        v[LIM_IMPACT_K] = self.impact_k
        v[LIM_MAX_ORDER_BARS] = self.max_order_bars
        v[LIM_LIMIT_ABOVE_BPS] = self.limit_above_bps
        v[LIM_LIMIT_GTC] = 1.0 if self.limit_gtc else 0.0
        v[LIM_INITIAL_CASH] = self.initial_cash
        v[LIM_MIN_WEIGHT] = self.min_weight
        v[LIM_SIZING_KELLY] = 1.0 if self.kelly_fraction > 0.0 else 0.0
        return v

    def describe(self) -> dict[str, Any]:
        """Plain dict for summary.json (inf written as None)."""
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}
