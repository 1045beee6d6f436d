"""The compiled loops never index outside their arrays: numba does not check bounds by default, so a bad index
reads another array's memory silently (the portfolio ranking once read past a one-period RSI stack). Here the
kernels run in a fresh process compiled with NUMBA_BOUNDSCHECK=1 (into their own cache folder) over the paths
that index by strategy state: per-stock fused and precomputed features, both fill modes, gaps, short histories,
fixed periods inside and outside the 10..21 stack, the per-stock metrics, the sweep's multi-config kernel, and
portfolio mode with the full stack and with a one-period stack."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = textwrap.dedent("""
    import numpy as np
    from adaptrade.backtest.engine import Features, run_backtest
    from adaptrade.data.bars import Bars
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import PortfolioFeatures, run_portfolio_backtest
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    bars = generate([f"S{i:02d}" for i in range(12)], 400, seed=4)
    valid = bars.valid.copy()
    valid[1, :150] = False   # listed late
    valid[2, 300:] = False   # delisted
    valid[3, ::7] = False    # gaps
    valid[4, 25:] = False    # a history shorter than the RSI warm-up
    close = bars.close.copy()
    close[5, 200] = np.nan   # a valid bar without a close
    b = Bars(dates=bars.dates, symbols=bars.symbols, open=bars.open, high=bars.high, low=bars.low, close=close,
             volume=bars.volume, valid=valid, adj_close=None, source="test")
    configs = [StrategyConfig(), StrategyConfig(fill="close"), StrategyConfig(kind="fixed", rsi_period=14),
               StrategyConfig(kind="fixed", rsi_period=2), StrategyConfig(kind="fixed", rsi_period=21, fill="close")]
    for cfg in configs:
        run_backtest(b, cfg, threads=1)
        run_backtest(b, cfg, features=Features.for_config(b, cfg), threads=1)
    limits = RiskLimits(initial_cash=100_000.0, kelly_fraction=0.0, max_position=0.2)
    for cfg in (StrategyConfig(), StrategyConfig(kind="fixed", rsi_period=14), StrategyConfig(kind="fixed", rsi_period=2)):
        run_portfolio_backtest(b, cfg, limits)
        run_portfolio_backtest(b, cfg, limits, features=PortfolioFeatures.compute(b, Features.for_config(b, cfg)))
    from adaptrade.backtest.metrics import engine_metrics
    from adaptrade.research.sweep import daily_returns_fast, run_compiled
    for cfg in configs:
        engine_metrics(run_backtest(b, cfg, threads=1), np.linspace(100.0, 120.0, b.n_bars), 0.03, threads=1)
    feats = Features.compute(b)
    run_compiled(b, feats, daily_returns_fast(b.close, b.valid), [StrategyConfig(), StrategyConfig(kind="fixed", buy=25.0),
                                                                  StrategyConfig(kind="fixed", rsi_period=10, fill="close")])
    print("ok")
""")


@pytest.mark.slow
def test_kernels_stay_inside_their_arrays(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    env.update(PYTHONPATH=SRC, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
