"""adaptrade: backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe."""

__version__ = "0.1.0"
