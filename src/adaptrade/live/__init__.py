"""Paper trading (issue 15): a replay feed, a broker interface with the simulated adapter, and the
live loop that drives the backtest's compiled strategy step session by session (docs/paper.md)."""
