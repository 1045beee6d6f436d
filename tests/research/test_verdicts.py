"""Verdicts: calibrated on random walks (false-positive rate near the level), and able to see a real edge."""

from __future__ import annotations

import numpy as np

from adaptrade.research.nulltest import binomial_upper, random_walk_false_positives
from adaptrade.research.verdict import (
    BEATS,
    SAME,
    TRAILS,
    portfolio_verdict,
    stock_verdict,
    stock_verdicts,
)


def test_random_walk_verdict_is_no_edge_in_most_seeds() -> None:
    """20 seeds x 20 stocks x 1,000 GBM bars: edge claims stay within what a 5% level allows by chance."""
    r = random_walk_false_positives(range(20), stocks=20, bars=1000)
    # portfolio: at most binomial_upper(20, 0.05) = 4 of 20 seeds may claim an edge (P(more) < 1%)
    assert r.portfolio_edges <= binomial_upper(20, 0.05)
    # per stock, two-sided 95%: "beats" is one tail, 2.5%; 400 tests allow at most 18 by chance
    assert r.stock_tests == 400
    assert r.stock_beats <= binomial_upper(400, 0.025)
    assert r.stock_beats >= 2  # and it is not trivially conservative: P(X <= 1) < 0.1% at 2.5% of 400
    assert r.stock_beats + r.stock_trails <= 400 * 0.15  # neither tail explodes (drift makes "trails" a bit likelier)


def test_verdict_sees_a_real_edge_and_a_real_loss() -> None:
    rng = np.random.default_rng(0)
    n, t = 10, 1500
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n, t)), axis=1))
    valid = np.ones((n, t), dtype=bool)
    better = close * np.exp(np.arange(t) * 0.002)[None, :]  # buy-and-hold plus 20 bp a day
    worse = close * np.exp(-np.arange(t) * 0.002)[None, :]
    pv = portfolio_verdict(better, close, valid, np.full(n, 0.5), n_boot=200)
    assert pv.edge and pv.verdict.startswith(BEATS) and pv.dsr > 0.95
    assert all(str(r["verdict"]).startswith(BEATS) for r in stock_verdicts(better, close, valid))
    pw = portfolio_verdict(worse, close, valid, np.full(n, -0.5), n_boot=200)
    assert not pw.edge and pw.verdict.startswith(TRAILS)
    same = portfolio_verdict(close.copy(), close, valid, np.zeros(n), n_boot=200)
    assert not same.edge
    assert stock_verdict(np.array([0.01, -0.01]))[0].startswith(SAME)  # too few bars: no claim


def test_many_trials_deflate_the_verdict() -> None:
    """The same track record, once as 1 trial and once as the best of 1,000 noisy trials."""
    rng = np.random.default_rng(4)
    n, t = 10, 1000
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (n, t)), axis=1))
    valid = np.ones((n, t), dtype=bool)
    eq = close * np.exp(np.cumsum(rng.normal(0.0002, 0.01, (n, t)), axis=1))  # a noisy edge
    one = portfolio_verdict(eq, close, valid, np.zeros(n), n_boot=200)
    trials = list(rng.normal(0.0, 0.05, 1000)) + [one.excess_sharpe]
    many = portfolio_verdict(eq, close, valid, np.zeros(n), trials, n_boot=200)
    assert many.n_trials == 1001 and many.sr0 > 0.1
    assert one.dsr > 0.95 > many.dsr
