"""Imported by the process-pool fork server: load the compiled kernels and the NYSE calendar once,
so every worker forked from it starts warm instead of paying ~1.5 s each (see docs/performance.md)."""

from __future__ import annotations


def warm() -> None:
    """Run a 2-stock, 100-bar backtest: loads numba's cached kernels, the calendar and the imports."""
    from adaptrade.parallel.batching import Batch, SyntheticSpec, run_batch
    from adaptrade.settings import DATA_END
    from adaptrade.strategy.params import StrategyConfig

    run_batch(Batch(0, ("WARM-A", "WARM-B"), SyntheticSpec(n_bars=100, seed=0, end=DATA_END), StrategyConfig()))


warm()
