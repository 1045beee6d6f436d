"""Strategy layer: the adaptive RSI step (compiled), its state, and the per-stock objects."""

from adaptrade.strategy.adaptive import AdaptiveRSIStrategy, StrategyEnsemble
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import CurrentParams, OnlineLearningStats

__all__ = ["AdaptiveRSIStrategy", "StrategyEnsemble", "StrategyConfig", "OnlineLearningStats", "CurrentParams"]
