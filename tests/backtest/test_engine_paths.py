"""run_backtest's paths agree bit for bit: features computed inside the compiled loop (stock by stock, the volatility only
where a trade closes) or precomputed, one thread or several; and it never nests a pool in a worker."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from adaptrade.backtest.engine import EngineOutput, Features, default_threads, run_backtest
from adaptrade.data.bars import Bars
from adaptrade.data.synthetic import generate
from adaptrade.strategy.params import StrategyConfig

FIELDS = ("equity", "signal", "in_market", "trades", "changes", "final_states")


def _gappy(n: int = 13, t: int = 2000) -> Bars:
    """Synthetic bars with holes: stocks listed late, delisted early, halted for a while."""
    b = generate([f"S{i:02d}" for i in range(n)], t, seed=11)
    valid = b.valid.copy()
    valid[2, :300] = False
    valid[5, 1500:] = False
    valid[8, 100:140] = False
    return Bars(dates=b.dates, symbols=b.symbols, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                valid=valid, source=b.source)


def _same(a: EngineOutput, b: EngineOutput) -> None:
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape and x.dtype == y.dtype, f
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f


@pytest.mark.parametrize("kind", ["fixed", "adaptive"])
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_features_inside_the_loop_equal_precomputed_ones(kind: str, fill: str) -> None:
    bars = _gappy()
    cfg = StrategyConfig(kind=kind, min_trades_to_adapt=2, fill=fill)  # type: ignore[arg-type]
    given = run_backtest(bars, cfg, Features.for_config(bars, cfg), threads=1)
    assert len(given.trades) > 20 and (kind == "fixed" or len(given.changes) > 0)
    _same(given, run_backtest(bars, cfg, threads=1))
    _same(given, run_backtest(bars, cfg, Features.compute(bars), threads=1))  # the whole RSI stack: the same run


@pytest.mark.parametrize("kind", ["fixed", "adaptive"])
@pytest.mark.parametrize("threads", [2, 3, 13, 40])
def test_threads_give_the_serial_result(kind: str, threads: int) -> None:
    bars, cfg = _gappy(), StrategyConfig(kind=kind, min_trades_to_adapt=2)  # type: ignore[arg-type]
    one = run_backtest(bars, cfg, threads=1)
    assert len(one.trades) > 20 and (kind == "fixed" or len(one.changes) > 0)
    _same(one, run_backtest(bars, cfg, threads=threads))
    _same(one, run_backtest(bars, cfg, Features.for_config(bars, cfg), threads=threads))


def test_the_volatility_reaches_the_learning() -> None:
    """The lazily computed volatility is the one learning reads: a different volatility moves the vol scalar."""
    bars, cfg = _gappy(), StrategyConfig(kind="adaptive", min_trades_to_adapt=2)
    feats = Features.compute(bars)
    inside = run_backtest(bars, cfg, threads=1)
    doubled = run_backtest(bars, cfg, Features(rsi=feats.rsi, vol=feats.vol * 1.5, first_period=feats.first_period), threads=1)
    assert not np.array_equal(inside.final_states, doubled.final_states, equal_nan=True)


def test_threads_with_given_features_and_states() -> None:
    bars, cfg = _gappy(), StrategyConfig(kind="adaptive", min_trades_to_adapt=2)
    feats = Features.compute(bars)
    learned = run_backtest(bars, cfg, feats, threads=1).final_states
    one = run_backtest(bars, cfg, feats, learned, threads=1)
    _same(one, run_backtest(bars, cfg, feats, learned, threads=4))
    assert not np.array_equal(one.equity, run_backtest(bars, cfg, feats, threads=1).equity)  # the states were used


def test_default_threads() -> None:
    assert default_threads(2, 100) == 1  # small: one thread
    assert default_threads(500, 2520) >= 1
    with ThreadPoolExecutor(1) as pool:  # inside a worker thread (a batch of the parallel runner): never a pool in a pool
        assert pool.submit(default_threads, 500, 2520).result() == 1


def test_metrics_on_threads_equal_one_thread() -> None:
    """stock_metrics splits a large universe over threads on the main thread; inside a worker it runs on one: equal."""
    from adaptrade.backtest.kernel import T_EXIT_T, T_RETURN, T_SYMBOL
    from adaptrade.backtest.metrics import stock_metrics

    bars = generate([f"M{i:03d}" for i in range(200)], 2600, seed=3)
    assert default_threads(200, 2600) == min(2, os.cpu_count() or 1)
    out = run_backtest(bars, StrategyConfig(), threads=1)
    closed = out.trades[:, T_EXIT_T] >= 0
    args = (out.equity, bars.close, bars.valid, out.in_market, out.trades[:, T_SYMBOL], out.trades[:, T_RETURN], closed, bars.close[0],
            100_000.0, 0.02)
    main = stock_metrics(*args)
    with ThreadPoolExecutor(1) as pool:
        worker = pool.submit(stock_metrics, *args).result()
    assert main.keys() == worker.keys()
    for k in main:
        assert np.array_equal(main[k], worker[k], equal_nan=True), k
    assert np.isfinite(main["sharpe"]).sum() > 150


def test_threads_at_most_caps_the_default() -> None:
    from adaptrade.backtest.threads import threads_at_most

    with threads_at_most(1):
        assert default_threads(5000, 2520) == 1
        with threads_at_most(None):
            assert default_threads(5000, 2520) == min(os.cpu_count() or 1, 5000 * 2520 // 250_000)
    assert default_threads(5000, 2520) == min(os.cpu_count() or 1, 50)


def test_out_arrays_are_written_in_place() -> None:
    bars = generate([f"S{i}" for i in range(6)], 300, seed=3)
    cfg = StrategyConfig()
    big = (np.zeros((10, 300)), np.zeros((10, 300), dtype=np.int8), np.zeros((10, 300), dtype=np.bool_))
    rows = tuple(a[2:8] for a in big)
    got = run_backtest(bars, cfg, out=rows)  # type: ignore[arg-type]
    want = run_backtest(bars, cfg)
    assert got.equity.base is big[0]
    for k, name in enumerate(("equity", "signal", "in_market")):
        np.testing.assert_array_equal(big[k][2:8], getattr(want, name))
        assert not big[k][:2].any() and not big[k][8:].any()  # other rows untouched
    with pytest.raises(ValueError, match="out arrays"):
        run_backtest(bars, cfg, out=(big[0][:6], big[1][:6], big[0][:6]))  # wrong dtype
