"""Streamed per-stock runs: batches go from data to results one after the other, in symbol order,
with at most a few batches in memory at once, so peak memory does not grow with the universe.

Synthetic bars are generated per batch (each symbol has its own random stream, so a batch's bars
are bit-identical to the same rows of the whole universe); archive bars are loaded once (the run's
calendar is the union of every file's dates) and batches are row views of them. The caller (the
file writer in reports.stream) consumes each batch's `BacktestResult` and drops it.
"""

from __future__ import annotations

import os
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError
from adaptrade.parallel.batching import StockBatcher, rows_of
from adaptrade.parallel.runner import (
    SYNTHETIC_BENCHMARK,
    LoadedData,
    RunRequest,
    check_stream_memory,
    load_data,
    min_bars,
    settings_of,
    synthetic_symbols,
    _check_dates,
)
from adaptrade.settings import Settings

STREAM_EXECUTORS = ("auto", "serial", "threads")  # processes / dask keep the whole-universe path (runner.run)


@dataclass(frozen=True)
class StreamPlan:
    """What a streamed run needs before any batch: symbols, calendar, benchmark, and how to get a batch's bars."""

    req: RunRequest
    symbols: tuple[str, ...]
    dates: np.ndarray
    benchmark_close: np.ndarray | None
    benchmark_symbol: str
    info: dict[str, object]  # the run's settings (summary.json / the run store), executor fields added by stream()
    bars_for: Callable[[tuple[str, ...]], Bars]
    source: str  # Bars.source of every batch

    def backtest(self, symbols: tuple[str, ...], settings: Settings) -> BacktestResult:
        """Data, engine and per-stock results of `symbols` (one batch; also how the report re-runs its featured stock)."""
        from adaptrade.backtest.engine import run_backtest

        out = run_backtest(self.bars_for(symbols), self.req.strategy, threads=1)  # the executor spreads the batches
        return build_result(out, self.benchmark_close, self.benchmark_symbol, risk_free_rate=settings.risk_free_rate,
                            min_sharpe=settings.min_sharpe, min_win_rate=settings.min_win_rate,
                            min_trades=settings.min_trades_rank, settings=self.info)


def plan(req: RunRequest, settings: Settings, on_file: Callable[[int, int], None] | None = None) -> StreamPlan:
    """The plan of a streamed run; synthetic runs are checked against the streamed memory model before anything is made."""
    if req.source != "synthetic":  # archive: the union calendar needs every file, so the bars are loaded once
        return _archive_plan(req, settings, load_data(req, settings, on_file))
    from adaptrade.data.calendar import nyse_sessions
    from adaptrade.data.synthetic import generate, synthetic_benchmark

    _check_dates(req)
    symbols, notes = synthetic_symbols(req)
    check_stream_memory(len(symbols), req.bars, settings)
    end = req.end or settings.data_end
    dates = nyse_sessions(end, int(req.bars), settings.cache_dir)
    if req.start:
        dates = dates[dates >= np.datetime64(req.start, "D")]
    if len(dates) < 2:
        raise ConfigError(f"no bars to backtest between {req.start or 'the first date'} and {req.end or 'the last date'}", field="start")
    need = min_bars(req.strategy)
    if len(dates) < need:
        raise ConfigError(
            f"the window {dates[0]}..{dates[-1]} has {len(dates)} bars; the RSI({req.strategy.rsi_period}) warm-up needs "
            f"{need - 1} bars and one more to trade on: at least {need} bars (move --start earlier or --end later)", field="start")
    bench = synthetic_benchmark(dates, req.seed)

    def bars_for(syms: tuple[str, ...]) -> Bars:
        bars = generate(syms, req.bars, seed=req.seed, end=end, cache_dir=settings.cache_dir)
        return bars.slice_dates(req.start, None) if req.start else bars

    info = settings_of(req, settings, tuple(symbols), dates, None, SYNTHETIC_BENCHMARK, bench, tuple(notes))
    source = f"synthetic(seed={int(req.seed)}, mean_reversion=True)"
    return StreamPlan(req, tuple(symbols), dates, bench, SYNTHETIC_BENCHMARK, info, bars_for, source)


def _archive_plan(req: RunRequest, settings: Settings, loaded: LoadedData) -> StreamPlan:
    """Archive runs: the loaded bars stay (one copy); batches are row views and results stream."""
    bars = loaded.bars
    info = settings_of(req, settings, bars.symbols, bars.dates, loaded.data_dir, loaded.benchmark_symbol,
                       loaded.benchmark_close, loaded.notes)
    return StreamPlan(req, bars.symbols, bars.dates, loaded.benchmark_close, loaded.benchmark_symbol, info,
                      lambda syms: rows_of(bars, syms), bars.source)


@dataclass(frozen=True)
class StreamedBatch:
    """One batch's outcome, in symbol order: its results, or the error that stopped it."""

    index: int
    symbols: tuple[str, ...]
    result: BacktestResult | None = None
    prepared: Any = None  # what `prepare` computed from the result on the worker thread
    error: str | None = None


def stream(p: StreamPlan, settings: Settings, prepare: Callable[[BacktestResult], Any] | None = None,
           executor: str | None = None, workers: int | None = None) -> Iterator[StreamedBatch]:
    """Run the plan's batches on a thread pool (or serially), yielding them in symbol order.

    At most `workers + 1` batches are submitted ahead of the one being consumed, so memory holds
    that many batches whatever the universe size. `prepare(result)` runs on the worker thread.
    """
    name = executor or settings.executor
    if name not in STREAM_EXECUTORS:
        raise ConfigError(f"streamed runs use threads or serial, not '{name}'", field="executor")
    n = 1 if name == "serial" else max(1, workers or settings.workers or os.cpu_count() or 1)
    p.info.update(executor="serial" if n == 1 else "threads", workers=n, streamed=True)
    batches = StockBatcher(settings.batch_size).split(p.symbols)

    def work(i: int, syms: tuple[str, ...]) -> StreamedBatch:
        try:
            res = p.backtest(syms, settings)
            return StreamedBatch(i, syms, res, prepare(res) if prepare else None)
        except Exception as exc:  # noqa: BLE001 - reported per batch (named by its symbols); the others still run
            last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
            return StreamedBatch(i, syms, error=f"{type(exc).__name__}: {exc}{where}")

    if n == 1:
        for i, syms in enumerate(batches):
            yield work(i, syms)
        return
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="adaptrade-stream") as pool:
        ahead: deque[Future[StreamedBatch]] = deque()
        todo = iter(enumerate(batches))
        for i, syms in todo:
            ahead.append(pool.submit(work, i, syms))
            if len(ahead) > n:
                break
        while ahead:
            done = ahead.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                ahead.append(pool.submit(work, *nxt))
            yield done
