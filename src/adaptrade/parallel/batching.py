"""Batches of stocks that a worker can run on its own: symbols plus how to get their data.

A batch never carries per-bar arrays. It names a `DataSpec` (synthetic: seed, bars, end;
archive: folder, cache, policy, dates) and the driver's calendar; the worker rebuilds its slice,
re-aligns it to that calendar and checks a fingerprint of the prices, so every executor feeds
the engine exactly the bars the serial run would. Results come back as plain arrays.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError, DataError
from adaptrade.strategy.params import StrategyConfig


@dataclass(frozen=True)
class SyntheticSpec:
    """Regenerate synthetic bars: deterministic per (symbol, seed, n_bars, end)."""

    n_bars: int
    seed: int
    end: str
    start: str | None = None
    cache_dir: str | None = None  # where the NYSE calendar is kept (saves ~0.4 s per new worker)


@dataclass(frozen=True)
class ArchiveSpec:
    """Load archive bars through the Parquet cache, windowed and priced like the driver did."""

    data_dir: str
    cache_dir: str | None
    policy: str
    jump_threshold: float
    price_basis: str
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class MemorySpec:
    """Bars shipped with the batch: only for callers that hand `run` data with no reproducible source."""

    bars: Bars
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the run's (equity, signal, in_market): batches fill their rows
    metrics: MetricsSpec | None = None  # set: each batch also computes its stocks' metrics (on its worker thread)


@dataclass(frozen=True)
class MetricsSpec:
    """What per-stock metrics need beyond a batch's own arrays (backtest.metrics.stock_metrics)."""

    benchmark_close: np.ndarray | None
    risk_free_rate: float


DataSpec = SyntheticSpec | ArchiveSpec | MemorySpec


@dataclass(frozen=True)
class Batch:
    """One unit of work: which stocks, where their data comes from, and the strategy to run."""

    index: int
    symbols: tuple[str, ...]
    spec: DataSpec
    config: StrategyConfig
    dates: np.ndarray | None = None  # the driver's calendar (datetime64[D]); None for MemorySpec
    fingerprint: str | None = None  # of the driver's close/valid rows, checked by the worker


@dataclass(frozen=True)
class BatchResult:
    """The engine's arrays for one batch (indices local to the batch)."""

    symbols: tuple[str, ...]
    equity: np.ndarray
    signal: np.ndarray
    in_market: np.ndarray
    trades: np.ndarray
    changes: np.ndarray
    metrics: dict[str, np.ndarray] | None = None  # stock_metrics of these stocks, when the spec asked for them


@dataclass(frozen=True)
class BatchOutcome:
    """What came back for a batch: a result, or the error that stopped it (named by symbol)."""

    index: int
    symbols: tuple[str, ...]
    result: BatchResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StockBatcher:
    """Split an ordered symbol list into consecutive batches of `size` stocks."""

    def __init__(self, size: int = 50) -> None:
        if size < 1:
            raise ConfigError(f"batch size must be at least 1 (got {size})", field="batch_size")
        self.size = size

    def split(self, symbols: Sequence[str]) -> list[tuple[str, ...]]:
        """Consecutive chunks in the given order (the merge relies on it)."""
        syms = tuple(symbols)
        return [syms[i : i + self.size] for i in range(0, len(syms), self.size)]


def fingerprint(bars: Bars) -> str:
    """A short hash of close prices and the valid mask: equal bars give equal fingerprints."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(np.nan_to_num(bars.close, nan=-1.0)).tobytes())
    h.update(np.ascontiguousarray(bars.valid).tobytes())
    h.update(np.ascontiguousarray(bars.dates).tobytes())
    return h.hexdigest()


def reindex(bars: Bars, dates: np.ndarray) -> Bars:
    """`bars` scattered onto a calendar that contains all of its dates (NaN / invalid elsewhere)."""
    if len(bars.dates) == len(dates) and np.array_equal(bars.dates, dates):
        return bars
    pos = np.searchsorted(dates, bars.dates)
    if len(pos) and (pos[-1] >= len(dates) or not np.array_equal(dates[pos], bars.dates)):
        raise DataError("batch dates are not part of the run's calendar (data changed while running?)")
    n, t = bars.n_symbols, len(dates)

    def spread(a: np.ndarray | None, fill: float | bool) -> np.ndarray | None:
        if a is None:
            return None
        out = np.full((n, t), fill, dtype=a.dtype)
        out[:, pos] = a
        return out

    return Bars(dates=dates, symbols=bars.symbols, open=spread(bars.open, np.nan), high=spread(bars.high, np.nan),  # type: ignore[arg-type]
                low=spread(bars.low, np.nan), close=spread(bars.close, np.nan), volume=spread(bars.volume, np.nan),  # type: ignore[arg-type]
                valid=spread(bars.valid, False), adj_close=spread(bars.adj_close, np.nan), source=bars.source)  # type: ignore[arg-type]


def _row_span(bars: Bars, symbols: tuple[str, ...]) -> tuple[int, int] | None:
    """(lo, hi) when `symbols` are rows lo..hi-1 of `bars`, consecutive and in order; else None."""
    if not symbols:
        return None
    lo = bars.index_of(symbols[0])
    hi = lo + len(symbols)
    return (lo, hi) if bars.symbols[lo:hi] == tuple(symbols) else None


def rows_of(bars: Bars, symbols: tuple[str, ...]) -> Bars:
    """The bars of `symbols`: views of the rows (no copy) when they are consecutive, in order, else a copy."""
    span = _row_span(bars, symbols)
    if span is None:
        return bars.select(symbols)
    lo, hi = span
    return Bars(dates=bars.dates, symbols=bars.symbols[lo:hi], open=bars.open[lo:hi], high=bars.high[lo:hi],
                low=bars.low[lo:hi], close=bars.close[lo:hi], volume=bars.volume[lo:hi], valid=bars.valid[lo:hi],
                adj_close=None if bars.adj_close is None else bars.adj_close[lo:hi], source=bars.source)


def load_batch(batch: Batch) -> Bars:
    """Rebuild the batch's bars from its spec, aligned to the driver's calendar, and verify them."""
    spec = batch.spec
    if isinstance(spec, MemorySpec):
        return rows_of(spec.bars, batch.symbols)
    if isinstance(spec, SyntheticSpec):
        from adaptrade.data.synthetic import generate

        bars = generate(batch.symbols, spec.n_bars, seed=spec.seed, end=spec.end, cache_dir=spec.cache_dir)
        if spec.start:
            bars = bars.slice_dates(spec.start, None)
    else:
        from adaptrade.data.archive import load_archive

        bars, _ = load_archive(Path(spec.data_dir), list(batch.symbols), policy=spec.policy,  # type: ignore[arg-type]
                               cache_dir=Path(spec.cache_dir) if spec.cache_dir else None,
                               start=spec.start, end=spec.end, jump_threshold=spec.jump_threshold)
        if spec.price_basis == "adjusted":
            bars = bars.adjusted(in_place=True)  # freshly loaded: nothing else holds the raw arrays
    if batch.dates is not None:
        if len(batch.dates):  # the driver's window may be shorter than what the spec regenerates
            bars = bars.slice_dates(batch.dates[0], batch.dates[-1])
        bars = reindex(bars, batch.dates)
    if batch.fingerprint is not None and fingerprint(bars) != batch.fingerprint:
        raise DataError(f"worker data for {batch.symbols[0]}..{batch.symbols[-1]} differs from the driver's")
    return bars


def run_batch(batch: Batch) -> BatchResult:
    """Load the batch's data and run the engine on it (the function every executor maps)."""
    from adaptrade.backtest.engine import run_backtest

    bars = load_batch(batch)
    out = run_backtest(bars, batch.config, threads=1, out=_rows_out(batch))  # the executor spreads the batches
    spec = batch.spec.metrics if isinstance(batch.spec, MemorySpec) else None
    metrics = None
    if spec is not None:
        from adaptrade.backtest.metrics import engine_metrics

        metrics = engine_metrics(out, spec.benchmark_close, spec.risk_free_rate, threads=1)
    return BatchResult(batch.symbols, out.equity, out.signal, out.in_market, out.trades, out.changes, metrics)


def _rows_out(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The batch's rows of the run's output arrays (in-process runs that provide them), else None."""
    spec = batch.spec
    span = _row_span(spec.bars, batch.symbols) if isinstance(spec, MemorySpec) and spec.out is not None else None
    if span is None:
        return None
    lo, hi = span
    return spec.out[0][lo:hi], spec.out[1][lo:hi], spec.out[2][lo:hi]  # type: ignore[union-attr, index]


def guarded(fn: Callable[[Batch], BatchResult], batch: Batch) -> BatchOutcome:
    """Call `fn(batch)` and turn an exception into an outcome that names the batch's symbols."""
    try:
        return BatchOutcome(batch.index, batch.symbols, result=fn(batch))
    except Exception as exc:  # reported per batch, so the other batches still finish
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        return BatchOutcome(batch.index, batch.symbols, error=f"{type(exc).__name__}: {exc}{where}")
