"""One backtest run from a request: load bars and benchmark, run in batches, build results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from adaptrade.parallel.batching import (
    ArchiveSpec,
    Batch,
    BatchOutcome,
    BatchResult,
    DataSpec,
    MemorySpec,
    MetricsSpec,
    StockBatcher,
    SyntheticSpec,
    fingerprint,
    run_batch,
)
from adaptrade.backtest.engine import EngineOutput
from adaptrade.backtest.threads import threads_at_most
from adaptrade.parallel.executors import (
    IN_PROCESS,
    BatchFn,
    Executor,
    make_executor,
)
from adaptrade.backtest.kernel import CHANGE_LOG_FIELDS, TRADE_FIELDS
from adaptrade.backtest.metrics import concat_metrics
from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError
from adaptrade.settings import Settings
from adaptrade.strategy.params import StrategyConfig

Source = Literal["synthetic", "archive"]
SYNTHETIC_BENCHMARK = "SYNTH-SP500"


@dataclass(frozen=True)
class RunRequest:
    """What to backtest: data source and selection, dates, strategy (costs included)."""

    source: Source = "synthetic"
    symbols: tuple[str, ...] = ()
    universe: str | None = "nasdaq100"
    stocks: int | None = 50
    bars: int = 2520
    seed: int = 42
    start: str | None = None
    end: str | None = None
    data_dir: Path | None = None
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    notes: tuple[str, ...] = ()  # what selection did before the run (e.g. the liquidity filter)


@dataclass(frozen=True)
class LoadedData:
    """Bars ready for the engine, their benchmark, and what loading had to say."""

    bars: Bars
    benchmark_close: np.ndarray | None
    benchmark_symbol: str
    data_dir: Path | None
    notes: tuple[str, ...]
    quality: object | None = None  # data.validate.QualityReport for archive data


def select_symbols(req: RunRequest, available: list[str] | None = None, pad: bool = False) -> tuple[list[str], list[str]]:
    """(symbols to run, notes): explicit list, or the universe filtered to what has data.

    With `pad` (synthetic data, where a symbol is only a label) a universe shorter than
    `--stocks` is extended with generated names SYN0001, SYN0002, ... and a note says so.
    """
    from adaptrade.universe.lists import universe_symbols

    notes: list[str] = []
    if req.symbols:
        chosen = list(dict.fromkeys(s.strip().upper() for s in req.symbols if s.strip()))
    elif req.universe:
        chosen = universe_symbols(req.universe)
        if available is not None:
            have = set(available)
            missing = [s for s in chosen if s not in have]
            if missing:
                shown = ", ".join(missing[:12]) + (", ..." if len(missing) > 12 else "")
                notes.append(f"{len(missing)} {req.universe} symbols have no data file and were skipped: {shown}")
            chosen = [s for s in chosen if s in have]
        if pad and req.stocks is not None and req.stocks > len(chosen):
            extra = req.stocks - len(chosen)
            chosen = chosen + [f"SYN{k:04d}" for k in range(1, extra + 1)]
            notes.append(f"{req.universe} has fewer than {req.stocks} names: {extra} synthetic names SYN0001.. added")
    else:
        raise ConfigError("give --symbols or --universe", field="symbols")
    if req.stocks is not None:
        if req.stocks < 1:
            raise ConfigError("--stocks must be at least 1", field="stocks")
        chosen = chosen[: req.stocks]
    if not chosen:
        raise ConfigError("no symbols selected", field="symbols")
    return chosen, notes


def resolve_data_dir(req: RunRequest, settings: Settings) -> tuple[Path, list[str]]:
    """The archive folder: --data-dir, else the setting, else the shipped sample (said so).

    A folder named explicitly (flag, ADAPTRADE_DATA_DIR, adaptrade.toml) must exist; only the
    default root (beside the project) falls back to the sample.
    """
    from adaptrade.data.sample import sample_dir
    from adaptrade.errors import DataError

    if req.data_dir is not None:
        if not Path(req.data_dir).is_dir():
            raise DataError("data directory (--data-dir) does not exist or is not a folder", file=req.data_dir, field="data_dir")
        return Path(req.data_dir), []
    if "data_dir" in settings.model_fields_set and not Path(settings.data_dir).is_dir():
        raise DataError("data directory (ADAPTRADE_DATA_DIR / data_dir setting) does not exist or is not a folder",
                        file=settings.data_dir, field="data_dir")
    if Path(settings.data_dir).exists():
        return Path(settings.data_dir), []
    return sample_dir(), [f"{settings.data_dir} not found: using the small real sample shipped with adaptrade"]


# Peak-memory model of one backtest run, fitted to measured peak RSS (benchmarks/memory.py,
# docs/performance.md "Memory"): about 450 MB of interpreter, imports and compiled code, plus about
# 110 bytes per stock-bar (the bars' five price/volume arrays and valid mask, the engine's equity /
# signal / in-market arrays, the report's normalised curves) while the whole universe is in memory.
# It is the model of the whole-universe path (runner.run: portfolio mode, processes/Dask, archive bars); streamed
# per-stock runs use estimate_stream_bytes below.
MEMORY_BASE_BYTES = 450 * 2**20
MEMORY_BYTES_PER_BAR = 110


def estimate_memory_bytes(n_stocks: int, n_bars: int) -> int:
    """Estimated peak memory (bytes) of a backtest over n_stocks x n_bars (see MEMORY_* above)."""
    return int(MEMORY_BASE_BYTES + MEMORY_BYTES_PER_BAR * max(0, int(n_stocks)) * max(0, int(n_bars)))


def available_memory_bytes() -> int | None:
    """Memory this machine can still give (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_limit(settings: Settings, available: int | None = None) -> int | None:
    """Bytes a run may use: the memory_limit_gb setting, else 80% of the memory available now (None: unknown)."""
    if settings.memory_limit_gb is not None:
        return int(settings.memory_limit_gb * 2**30)
    have = available if available is not None else available_memory_bytes()
    return None if have is None else int(0.8 * have)


def check_memory(n_stocks: int, n_bars: int, settings: Settings, available: int | None = None, need: int | None = None) -> None:
    """Refuse, before any work, a run whose estimated peak memory exceeds the limit (estimate and limit stated)."""
    need, limit = (estimate_memory_bytes(n_stocks, n_bars) if need is None else need), memory_limit(settings, available)
    if limit is not None and need > limit:
        raise ConfigError(
            f"{n_stocks:,} stocks x {n_bars:,} bars needs an estimated {need / 2**30:.1f} GB of memory, above the limit of "
            f"{limit / 2**30:.1f} GB (ADAPTRADE_MEMORY_LIMIT_GB, default 80% of available memory): use fewer --stocks or --bars "
            "(estimate: parallel.runner.estimate_memory_bytes / estimate_stream_bytes)",
            field="stocks")


# A streamed run (parallel/stream.py) holds a few batches at once, not the universe: per stock-bar of a
# batch in flight its bars (41 B), the adaptive RSI stack and volatility (104 B), the engine's equity, signal
# and in-market arrays (10 B), the report's three normalised curves and their temporaries (~48 B); per
# stock only its summary row, name, settings entry and report row (peak RSS grew ~5 kB per stock from
# 500 to 20,000 stocks, benchmarks/memory.py); per bar the report's running sums.
STREAM_BYTES_PER_BATCH_BAR = 220
STREAM_BYTES_PER_STOCK = 5120
STREAM_BYTES_PER_BAR = 64


def stream_in_flight(settings: Settings) -> int:
    """How many batches a streamed run holds at once: one per worker thread, one queued, one being written."""
    import os

    workers = 1 if settings.executor == "serial" else max(1, settings.workers or os.cpu_count() or 1)
    return 2 * workers + 1


def estimate_stream_bytes(n_stocks: int, n_bars: int, batch_size: int = 50, in_flight: int = 5) -> int:
    """Estimated peak memory (bytes) of a streamed run: start-up + the batches in flight + summary rows."""
    n_stocks, n_bars = max(0, int(n_stocks)), max(0, int(n_bars))
    batch = min(n_stocks, int(batch_size)) * int(in_flight)
    return int(MEMORY_BASE_BYTES + STREAM_BYTES_PER_BATCH_BAR * batch * n_bars + STREAM_BYTES_PER_STOCK * n_stocks
               + STREAM_BYTES_PER_BAR * n_bars)


def check_stream_memory(n_stocks: int, n_bars: int, settings: Settings, available: int | None = None) -> None:
    """check_memory with the streamed model (what a streamed synthetic run will hold at its peak)."""
    check_memory(n_stocks, n_bars, settings, available,
                 need=estimate_stream_bytes(n_stocks, n_bars, settings.batch_size, stream_in_flight(settings)))


def load_data(req: RunRequest, settings: Settings, on_file: Callable[[int, int], None] | None = None) -> LoadedData:
    """Bars (total-return adjusted when the price basis says so) and the aligned benchmark
    (`on_file(done, total)`: progress of the archive files read)."""
    loaded = _load(req, settings, on_file)
    if loaded.bars.n_bars < 2 or not loaded.bars.valid.any():
        raise ConfigError(f"no bars to backtest between {req.start or 'the first date'} and {req.end or 'the last date'}", field="start")
    need = min_bars(req.strategy)
    if loaded.bars.n_bars < need:
        b = loaded.bars
        raise ConfigError(
            f"the window {b.dates[0]}..{b.dates[-1]} has {b.n_bars} bars; the RSI({req.strategy.rsi_period}) warm-up needs "
            f"{need - 1} bars and one more to trade on: at least {need} bars (move --start earlier or --end later)", field="start")
    return loaded


def min_bars(cfg: StrategyConfig) -> int:
    """Shortest window worth running: the RSI warm-up (period + 1 closes) plus one bar to fill on."""
    return int(cfg.rsi_period) + 2


def _check_dates(req: RunRequest) -> None:
    """--start / --end are dates, in order."""
    from adaptrade.data.calendar import parse_day

    lo = parse_day(req.start, "start") if req.start else None
    hi = parse_day(req.end, "end") if req.end else None
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"start {lo} is after end {hi}", field="start")


def _archive_sessions_bound(req: RunRequest, settings: Settings) -> int:
    """At most how many sessions an archive window holds (before any file is read): NYSE sessions from
    --start (else 1990-01-02, before the oldest file we ship or know) to --end (else the data_end setting)."""
    from adaptrade.data.calendar import nyse_sessions_between

    try:
        return len(nyse_sessions_between(req.start or "1990-01-02", req.end or settings.data_end, settings.cache_dir))
    except Exception:  # a bad date is reported by the loader with its own message
        return 0


SYNTHETIC_NOTE = "synthetic data: GBM + Ornstein-Uhlenbeck mean reversion, which flatters RSI strategies; see docs/synthetic.md"


def synthetic_symbols(req: RunRequest) -> tuple[list[str], list[str]]:
    """The symbols and notes of a synthetic run, its seed and length validated (shared by the whole-universe and streamed paths)."""
    symbols, notes = select_symbols(req, pad=True)
    if req.seed < 0:
        raise ConfigError("--seed must be a non-negative integer", field="seed")
    if req.bars < 30:
        raise ConfigError("--bars must be at least 30", field="bars")
    return list(symbols), [*notes, SYNTHETIC_NOTE]


def _load(req: RunRequest, settings: Settings, on_file: Callable[[int, int], None] | None = None) -> LoadedData:
    _check_dates(req)
    if req.source == "synthetic":
        from adaptrade.data.synthetic import generate, synthetic_benchmark

        symbols, notes = synthetic_symbols(req)
        check_memory(len(symbols), req.bars, settings)
        end = req.end or settings.data_end
        bars = generate(symbols, req.bars, seed=req.seed, end=end, cache_dir=settings.cache_dir)
        if req.start:
            bars = bars.slice_dates(req.start, None)
        bench = synthetic_benchmark(bars.dates, req.seed)
        return LoadedData(bars, bench, SYNTHETIC_BENCHMARK, None, tuple(notes))
    if req.source != "archive":
        raise ConfigError(f"unknown source '{req.source}' (synthetic|archive)", field="source")
    from adaptrade.data.archive import available_symbols, load_archive
    from adaptrade.data.benchmark import load_benchmark

    data_dir, notes = resolve_data_dir(req, settings)
    notes = list(req.notes) + notes
    files = available_symbols(data_dir)
    if not files:
        from adaptrade.data.archive import no_data_files
        from adaptrade.errors import DataError

        raise DataError(no_data_files(data_dir), file=data_dir, field="data_dir")
    available = sorted(files) if not req.symbols else None
    symbols, more = select_symbols(req, available)
    notes += more
    check_memory(len(symbols), _archive_sessions_bound(req, settings), settings)
    bars, quality = load_archive(
        data_dir,
        symbols,
        policy=settings.repair_policy,
        cache_dir=settings.cache_dir,
        start=req.start,
        end=req.end,
        jump_threshold=settings.jump_threshold,
        on_file=on_file,
    )
    if settings.price_basis == "adjusted" and req.strategy.whole_shares:
        raise ConfigError(
            "--whole-shares needs --prices raw: adjusted prices are scaled by later dividends, so whole-share "
            "counts on them are not shares anyone could have bought",
            field="whole_shares",
        )
    if settings.price_basis == "adjusted":
        if bars.adj_close is None:
            raise ConfigError(
                f"price basis 'adjusted' needs an adj_close column, and some files in {data_dir} have none: "
                "pass --prices raw (traded prices, compared with the ^GSPC price index) or add adj_close",
                field="prices",
            )
        bars = bars.adjusted(in_place=True)  # freshly loaded: nothing else holds the raw arrays
        notes.append("prices: split- and dividend-adjusted (adj_close basis), compared with SPY total return")
    else:
        notes.append("prices: raw traded prices (no dividends), compared with the ^GSPC price index")
    series = load_benchmark(data_dir, bars.dates, settings.price_basis)
    notes.append(f"benchmark {series.note}")
    if not np.isfinite(series.close).any():
        notes.append(f"WARNING: no benchmark coverage: {series.symbol} has no bar on any of these {bars.n_bars} dates, "
                     "so nothing is compared with it (no beat counts)")
    from adaptrade.data.sample import SAMPLE_END, SAMPLE_START, sample_dir

    if Path(series.file).parent == sample_dir() and Path(data_dir).resolve() != sample_dir().resolve():
        notes.append(f"WARNING: {data_dir} has no {series.symbol} file; the shipped sample's copy "
                     f"({SAMPLE_START}..{SAMPLE_END}) is used, and stocks outside those dates get no benchmark return")
    return LoadedData(bars, series.close, series.symbol, data_dir, tuple(notes), quality)


def merge_results(parts: list[BatchResult], bars: Bars, config: StrategyConfig,
                  whole: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> EngineOutput:
    """Concatenate per-batch arrays in symbol order, re-basing symbol indices; `bars` = their symbols.
    `whole` = (equity, signal, in_market) the parts wrote their rows into: used as they are (no copy) when the parts
    are all of its rows, in order; otherwise (a failed batch left out, a part with its own arrays) concatenated."""
    if whole is not None and not (sum(len(p.symbols) for p in parts) == whole[0].shape[0]
                                  and all(p.equity.base is whole[0] for p in parts)):
        whole = None
    offset = 0
    trades, changes = [], []
    for p in parts:
        tr = p.trades.copy()
        tr[:, 0] += offset
        ch = p.changes.copy()
        ch[:, 0] += offset
        trades.append(tr)
        changes.append(ch)
        offset += len(p.symbols)
    t = bars.n_bars
    if whole is None:
        whole = (np.concatenate([p.equity for p in parts]), np.concatenate([p.signal for p in parts]),
                 np.concatenate([p.in_market for p in parts])) if parts else \
            (np.empty((0, t)), np.empty((0, t), dtype=np.int8), np.empty((0, t), dtype=bool))
    return EngineOutput(
        bars=bars,
        config=config,
        equity=whole[0],
        signal=whole[1],
        in_market=whole[2],
        trades=np.concatenate(trades) if parts else np.empty((0, TRADE_FIELDS)),
        changes=np.concatenate(changes) if parts else np.empty((0, CHANGE_LOG_FIELDS)),
    )


def data_spec(req: RunRequest, settings: Settings, loaded: LoadedData, remote: bool) -> DataSpec:
    """How a worker gets a batch's bars: regenerate / reload from the cache, or (serial) the loaded bars."""
    if not remote:
        return MemorySpec(loaded.bars)
    if req.source == "synthetic":
        return SyntheticSpec(n_bars=req.bars, seed=req.seed, end=req.end or settings.data_end, start=req.start,
                             cache_dir=str(settings.cache_dir) if settings.cache_dir else None)
    return ArchiveSpec(data_dir=str(loaded.data_dir), cache_dir=str(settings.cache_dir) if settings.cache_dir else None,
                       policy=settings.repair_policy, jump_threshold=settings.jump_threshold,
                       price_basis=settings.price_basis, start=req.start, end=req.end)


def run(
    req: RunRequest,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
    data: LoadedData | None = None,
    *,
    executor: str | Executor | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    fn: BatchFn = run_batch,
    on_batch: Callable[[BatchOutcome, int], None] | None = None,
) -> tuple[BacktestResult, LoadedData]:
    """Run the request in batches on an executor, calling `progress(done stocks)` as each batch ends
    (and `on_batch(outcome, done stocks)` first, e.g. to publish the batch's fills while the run goes on).

    Batches that fail are left out of the result and listed in its settings
    (`complete`, `failed_symbols`, `failed_batches`); everything else is kept.
    """
    loaded = data if data is not None else load_data(req, settings)
    bars = loaded.bars
    ex = executor if executor is not None and not isinstance(executor, str) else make_executor(
        executor or settings.executor, workers or settings.workers, scheduler or settings.scheduler,
        work=bars.n_symbols * bars.n_bars)
    remote = ex.name not in IN_PROCESS
    spec = data_spec(req, settings, loaded, remote)
    if isinstance(spec, MemorySpec) and fn is run_batch:  # in-process: batches write their rows of the run's arrays
        n, t = bars.n_symbols, bars.n_bars  # and compute their stocks' metrics on their own threads
        spec = MemorySpec(bars, out=(np.empty((n, t)), np.empty((n, t), dtype=np.int8), np.empty((n, t), dtype=np.bool_)),
                          metrics=MetricsSpec(loaded.benchmark_close, settings.risk_free_rate))
    batches = []
    for i, syms in enumerate(StockBatcher(settings.batch_size).split(bars.symbols)):
        part = bars.select(syms) if remote else None
        batches.append(Batch(i, syms, spec, req.strategy, dates=bars.dates if remote else None,
                             fingerprint=fingerprint(part) if part is not None else None))
    done = 0

    def on_done(o: BatchOutcome) -> None:
        nonlocal done
        done += len(o.symbols)
        if on_batch is not None:
            on_batch(o, done)
        if progress is not None:
            progress(done)

    with threads_at_most(ex.workers if ex.name in IN_PROCESS else None):  # serial: one core all through
        return _finish(ex, ex.map(fn, batches, on_done), bars, req, settings, loaded,
                       spec.out if isinstance(spec, MemorySpec) else None)


def _finish(ex: Executor, outcomes: list[BatchOutcome], bars: Bars, req: RunRequest, settings: Settings,
            loaded: LoadedData, whole: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[BacktestResult, LoadedData]:
    """Merge the batches' outcomes into one result (failed batches listed in its settings); `whole`: the arrays
    the batches wrote their rows into (see merge_results)."""
    ok = [o for o in outcomes if o.ok and o.result is not None]
    failed = [o for o in outcomes if not o.ok]
    kept = bars if not failed else bars.select([s for o in ok for s in o.symbols])
    output = merge_results([o.result for o in ok], kept, req.strategy, whole=whole)  # type: ignore[misc]
    parts = [o.result.metrics for o in ok]  # type: ignore[union-attr]
    metrics = concat_metrics(parts) if parts and all(p is not None for p in parts) else None  # type: ignore[arg-type]
    info = run_settings(req, settings, loaded)
    info.update(executor=ex.name, workers=ex.workers, complete=not failed,
                failed_symbols=[s for o in failed for s in o.symbols],
                failed_batches=[{"symbols": list(o.symbols), "error": o.error} for o in failed])
    result = build_result(
        output,
        loaded.benchmark_close,
        loaded.benchmark_symbol,
        risk_free_rate=settings.risk_free_rate,
        min_sharpe=settings.min_sharpe,
        min_win_rate=settings.min_win_rate,
        min_trades=settings.min_trades_rank,
        settings=info,
        metrics=metrics,
    )
    return result, loaded


def benchmark_coverage(close: np.ndarray | None) -> float:
    """Share of the run's dates on which the benchmark has a close (0.0 = no comparison possible)."""
    if close is None or len(close) == 0:
        return 0.0
    return float(np.isfinite(np.asarray(close, dtype=np.float64)).mean())


def run_settings(req: RunRequest, settings: Settings, loaded: LoadedData) -> dict[str, object]:
    """The run's settings as recorded in summary.json and the run store."""
    bars = loaded.bars
    return settings_of(req, settings, bars.symbols, bars.dates, loaded.data_dir, loaded.benchmark_symbol,
                       loaded.benchmark_close, loaded.notes)


def settings_of(req: RunRequest, settings: Settings, symbols: tuple[str, ...], dates: np.ndarray, data_dir: Path | None,
                benchmark_symbol: str, benchmark_close: np.ndarray | None, notes: tuple[str, ...]) -> dict[str, object]:
    """run_settings from the run's parts (a streamed run has no whole-universe Bars)."""
    n = len(dates)
    d: dict[str, object] = {
        "source": req.source,
        "data_dir": str(data_dir) if data_dir else None,
        "seed": req.seed if req.source == "synthetic" else None,
        "symbols": list(symbols),
        "universe": None if req.symbols else req.universe,
        "start": str(dates[0]) if n else None,
        "end": str(dates[-1]) if n else None,
        "bars": int(n),
        "price_basis": settings.price_basis if req.source == "archive" else "synthetic",
        "repair_policy": settings.repair_policy if req.source == "archive" else None,
        "benchmark": benchmark_symbol,
        "benchmark_coverage": benchmark_coverage(benchmark_close),
        "risk_free_rate": settings.risk_free_rate,
        "min_sharpe": settings.min_sharpe,
        "min_win_rate": settings.min_win_rate,
        "min_trades_rank": settings.min_trades_rank,
        "notes": list(notes),
    }
    d.update(req.strategy.describe())
    return d
