"""Calibration on pure random walks: the verdicts must say "no edge" about as often as the level promises.

On GBM data (no mean reversion) no RSI rule can time the market, so every "beats buy-and-hold"
verdict is a false positive. Running several seeds measures the false-positive rate of the
portfolio verdict and of the per-stock verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from adaptrade.strategy.params import StrategyConfig


@dataclass(frozen=True)
class NullResult:
    """False-positive counts over seeds (portfolio) and over all seed x stock pairs (per stock)."""

    seeds: int
    stocks: int
    bars: int
    level: float
    portfolio_edges: int
    stock_tests: int
    stock_beats: int
    stock_trails: int

    @property
    def portfolio_rate(self) -> float:
        """Share of seeds whose portfolio verdict claimed an edge."""
        return self.portfolio_edges / self.seeds if self.seeds else float("nan")

    @property
    def stock_rate(self) -> float:
        """Share of per-stock tests that said "beats buy-and-hold"."""
        return self.stock_beats / self.stock_tests if self.stock_tests else float("nan")


def random_walk_false_positives(seeds: range | list[int], stocks: int = 20, bars: int = 1000,
                                config: StrategyConfig | None = None, level: float = 0.95, n_boot: int = 300) -> NullResult:
    """Run the strategy on GBM data for each seed; count edge claims of the portfolio and per-stock verdicts."""
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.data.synthetic import generate
    from adaptrade.research.verdict import (
        BEATS,
        TRAILS,
        portfolio_verdict,
        stock_verdicts,
    )

    cfg = config or StrategyConfig()
    symbols = [f"RW{i:03d}" for i in range(stocks)]
    edges = beats = trails = tests = 0
    for seed in seeds:
        b = generate(symbols, bars, seed=int(seed), mean_reversion=False)
        out = run_backtest(b, cfg)
        bh = b.close[:, -1] / b.close[:, 0] - 1.0
        total = out.equity[:, -1] / cfg.initial_cash - 1.0
        pv = portfolio_verdict(out.equity, b.close, b.valid, total - bh, level=level, n_boot=n_boot, seed=int(seed))
        edges += int(pv.edge)
        for row in stock_verdicts(out.equity, b.close, b.valid, level):
            tests += 1
            beats += int(str(row["verdict"]).startswith(BEATS))
            trails += int(str(row["verdict"]).startswith(TRAILS))
    return NullResult(len(list(seeds)), stocks, bars, level, edges, tests, beats, trails)


def binomial_upper(n: int, p: float, alpha: float = 0.01) -> int:
    """Smallest k with P(X > k) < alpha for X ~ Binomial(n, p): the most false positives chance allows."""
    from math import comb

    tail = 1.0
    for k in range(n + 1):
        tail -= comb(n, k) * p**k * (1 - p) ** (n - k)
        if tail < alpha:
            return k
    return n



