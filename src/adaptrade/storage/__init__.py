"""Persistence of backtest runs (DuckDB run store)."""

from adaptrade.storage.runs import RunStore

__all__ = ["RunStore"]
