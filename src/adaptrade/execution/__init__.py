"""Execution: orders, liquidity analysis, TWAP/VWAP schedulers and a simulated broker."""
