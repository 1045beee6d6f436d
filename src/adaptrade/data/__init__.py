"""Data layer: synthetic and archive OHLCV in one canonical form (`Bars`), features, benchmarks."""

from adaptrade.data.bars import Bars

__all__ = ["Bars"]
