"""`adaptrade backtest` and `adaptrade demo`: flags -> a run request -> tables, files and the run store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from adaptrade.commands.common import check_out, check_symbols, check_top, console, err_console, handle_errors, progress
from adaptrade.storage.backend import db_overrides, display
from adaptrade.storage.lifecycle import recorded

if TYPE_CHECKING:
    from adaptrade.backtest.results import BacktestResult
    from adaptrade.parallel.runner import RunRequest
    from adaptrade.settings import Settings


def _request(
    source: str, data_dir: Optional[Path], symbols: Optional[str], universe: Optional[str], stocks: Optional[int],
    bars: int, seed: int, start: Optional[str], end: Optional[str], strategy: str, rsi_period: int, buy: float,
    sell: float, fill: Optional[str], commission_bps: Optional[float], slippage_bps: Optional[float], whole_shares: bool,
    settings: Settings,
) -> RunRequest:
    """Flags + settings -> a RunRequest (flags win over ADAPTRADE_* settings)."""
    from adaptrade.parallel.runner import RunRequest
    from adaptrade.errors import ConfigError
    from adaptrade.strategy.params import StrategyConfig

    if strategy not in ("adaptive", "fixed"):
        raise ConfigError(f"unknown strategy '{strategy}' (adaptive|fixed)", field="strategy")
    if source not in ("synthetic", "archive"):
        raise ConfigError(f"unknown source '{source}' (synthetic|archive)", field="source")
    cfg = StrategyConfig(
        kind=strategy,  # type: ignore[arg-type]  # checked above
        rsi_period=rsi_period,
        buy=buy,
        sell=sell,
        fill=fill or settings.fill,  # type: ignore[arg-type]  # StrategyConfig checks it
        commission_bps=settings.commission_bps if commission_bps is None else commission_bps,
        slippage_bps=settings.slippage_bps if slippage_bps is None else slippage_bps,
        whole_shares=whole_shares or settings.whole_shares,
        initial_cash=settings.initial_cash,
        learning_alpha=settings.learning_alpha,
        min_trades_to_adapt=settings.min_trades_to_adapt,
        threshold_step=settings.threshold_step,
    )
    sym = tuple(s for s in (symbols or "").split(",") if s.strip())
    return RunRequest(
        source=source,  # type: ignore[arg-type]  # checked above
        symbols=sym,
        universe=None if sym else (universe or "nasdaq100"),
        stocks=stocks,
        bars=bars,
        seed=seed,
        start=start,
        end=end,
        data_dir=data_dir,
        strategy=cfg,
    )


@recorded("backtest")
def _run_and_report(req: RunRequest, settings: Settings, title: str, out: Optional[Path], store: bool, top: int, report_symbol: Optional[str] = None, rec: Any = None) -> BacktestResult:
    """Run with a progress bar, print the tables, write files and store the run."""
    from adaptrade.parallel import runner
    from adaptrade.reports.files import summary, write_outputs
    from adaptrade.reports.terminal import print_run

    if _streams(settings):
        return _run_streamed(req, settings, title, out, top, report_symbol, rec)
    with progress("loading data files", None) as (bar, task):
        loaded = runner.load_data(req, settings, on_file=lambda done, total: bar.update(task, completed=done, total=total))
    if report_symbol is not None:  # checked before the work, not after it
        report_symbol = report_symbol.strip().upper()
        loaded.bars.index_of(report_symbol)  # UnknownSymbolError names it
    with progress("backtesting stocks", loaded.bars.n_symbols) as (bar, task):
        result, _ = runner.run(req, settings, progress=lambda done: bar.update(task, completed=done), data=loaded)
    doc = summary(result)
    print_run(console, result, doc, title, top=top)
    _print_failures(result)
    if out is not None:
        write_outputs(result, out, report_symbol=report_symbol, summary_doc=doc)
        console.print(f"wrote {out}/ (summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html)")
    if rec is not None:
        console.print(f"stored as run {rec.save(result, doc)} in {display(rec.target)}")
    return result


def _streams(settings: Settings) -> bool:
    """Per-stock runs on threads or serially stream batch by batch (bounded memory); processes and Dask
    ship whole batches back and keep the whole-universe path (runner.run)."""
    from adaptrade.parallel.stream import STREAM_EXECUTORS

    return settings.executor in STREAM_EXECUTORS and not (settings.executor == "auto" and settings.scheduler)


def _run_streamed(req: RunRequest, settings: Settings, title: str, out: Optional[Path], top: int,
                  report_symbol: Optional[str], rec: Any) -> Any:
    """The streamed per-stock run: each batch's files written as it ends; only summary rows kept."""
    from adaptrade.errors import UnknownSymbolError
    from adaptrade.parallel.stream import plan
    from adaptrade.reports.stream import run_streamed
    from adaptrade.reports.terminal import print_run

    with progress("loading data files", None) as (bar, task):
        p = plan(req, settings, on_file=lambda done, total: bar.update(task, completed=done, total=total))
    if report_symbol is not None:  # checked before the work, not after it
        report_symbol = report_symbol.strip().upper()
        if report_symbol not in set(p.symbols):
            raise UnknownSymbolError(f"unknown symbol '{report_symbol}' (not in these bars)")
    with progress("backtesting stocks", len(p.symbols)) as (bar, task):
        result, doc = run_streamed(p, settings, out, report_symbol, progress=lambda done: bar.update(task, completed=done))
    try:
        print_run(console, result, doc, title, top=top)  # type: ignore[arg-type]  # stocks, benchmark symbol
        _print_failures(result)  # type: ignore[arg-type]
        if out is not None:
            console.print(f"wrote {out}/ (summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html)")
        if rec is not None:
            console.print(f"stored as run {rec.save(result, doc)} in {display(rec.target)}")
    finally:
        result.close()
    return result


def _executor_flags(executor: Optional[str], workers: Optional[int], scheduler: Optional[str]) -> dict[str, object]:
    """--executor/--workers/--scheduler checked and turned into settings overrides."""
    from adaptrade.parallel.executors import EXECUTORS
    from adaptrade.errors import ConfigError

    if executor is not None and executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}' ({'|'.join(EXECUTORS)})", field="executor")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1", field="workers")
    return {"executor": executor, "workers": workers, "scheduler": scheduler}


def _universe_symbols(universe: Optional[str], sector: Optional[str], data_dir: Optional[Path], settings: Settings, source: str,
                      start: Optional[str] = None) -> tuple[str, tuple[str, ...]]:
    """--universe extended|nasdaq100-pit / --sector as an explicit symbol list (archive: only symbols with a
    data file) and run notes (nasdaq100-pit: members on --start, how many have no price file)."""
    from adaptrade.universe.universe import PIT, NasdaqUniverse

    if universe == PIT:
        from adaptrade.parallel.runner import RunRequest, resolve_data_dir
        from adaptrade.errors import ConfigError

        if not start:
            raise ConfigError(f"--universe {PIT} needs --start: the members on that date are run", field="start")
        root, _ = resolve_data_dir(RunRequest(source="archive", data_dir=data_dir), settings)  # same folder the run reads
        u = NasdaqUniverse(root if source == "archive" else None)
        chosen = u.select(PIT, sector, None, with_data=source == "archive", as_of=start)
        notes = u.point_in_time(start).notes() if source == "archive" else []
        if sector:
            notes.append(f"--sector {sector}: {len(chosen)} members with that sector (past members have no sector)")
        return ",".join(chosen), tuple(notes)
    root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
    chosen = NasdaqUniverse(root if root.exists() else None).select(universe or "nasdaq100", sector, None, with_data=source == "archive")
    return ",".join(chosen), ()


def _liquid_symbols(source: str, symbols: Optional[str], universe: Optional[str], sector: Optional[str], data_dir: Optional[Path],
                    start: Optional[str], min_volume: Optional[float], min_dollar_volume: Optional[float], settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The selection after the liquidity filter (pre-start data only) and notes saying what it dropped."""
    from adaptrade.errors import ConfigError
    from adaptrade.universe.liquidity import check_thresholds, liquidity_filter

    if source != "archive":
        raise ConfigError("the liquidity filter needs --source archive (synthetic volumes are made up)", field="min_volume")
    check_thresholds(min_volume, min_dollar_volume)
    if not start:
        raise ConfigError("the liquidity filter needs --start: it averages the sessions before it", field="start")
    from adaptrade.parallel.runner import RunRequest, resolve_data_dir

    root, _ = resolve_data_dir(RunRequest(source="archive", data_dir=data_dir), settings)  # same folder the run reads
    chosen = [s.strip().upper() for s in (symbols or _universe_symbols(universe, sector, root, settings, source, start)[0]).split(",") if s.strip()]
    rep = liquidity_filter(root, chosen, start, window=settings.liquidity_window,
                           min_volume=settings.min_volume if min_volume is None else min_volume,
                           cache_dir=settings.cache_dir, policy=settings.repair_policy, min_dollar_volume=min_dollar_volume)
    if not rep.kept:
        raise ConfigError(f"the liquidity filter ({rep.measure}) kept no stock", field="min_volume")
    notes = [f"liquidity filter ({rep.measure}): {len(rep.kept)} kept, {len(rep.dropped)} dropped"]
    lines = rep.lines()
    notes += [f"dropped {line}" for line in lines[:10]]
    if len(lines) > 10:  # the rest by name only, so the terminal stays readable
        notes.append(f"dropped {len(lines) - 10} more: " + ", ".join(rep.dropped["symbol"].iloc[10:].tolist()))
    if rep.split_caveat:
        notes.append(rep.split_caveat)
    return ",".join(rep.kept), tuple(notes)


def _synthetic_only(source: str, bars: Optional[int], seed: Optional[int]) -> tuple[int, int]:
    """--bars/--seed shape synthetic data only: refused with archive data (they would be silently ignored)."""
    from adaptrade.errors import ConfigError

    if source == "archive" and (bars is not None or seed is not None):
        flag = "--bars" if bars is not None else "--seed"
        raise ConfigError(f"{flag} applies to synthetic data only; archive runs take their bars from the files "
                          "(use --start/--end to choose the window)", field=flag.lstrip("-"))
    return (2520 if bars is None else bars), (42 if seed is None else seed)


def _print_failures(result: BacktestResult) -> None:
    """Say loudly which stocks a run could not compute (the run is then marked incomplete)."""
    from rich.markup import escape

    failed: list[dict[str, Any]] = result.settings.get("failed_batches") or []  # type: ignore[assignment]
    if not failed:
        return
    n = sum(len(b["symbols"]) for b in failed)
    err_console.print(f"[bold red]INCOMPLETE:[/bold red] {n} stocks in {len(failed)} batches failed; results above leave them out.")
    for b in failed:
        err_console.print(f"  {escape(', '.join(b['symbols']))}: {escape(str(b['error']))}", highlight=False, soft_wrap=True)


@handle_errors
def backtest(
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Archive folder (default: ADAPTRADE_DATA_DIR, ../shared/data, else the shipped sample)."),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT."),
    universe: Optional[str] = typer.Option(None, "--universe", help="Named universe when --symbols is absent: nasdaq100 | extended | nasdaq100-pit (members on --start)."),
    stocks: Optional[int] = typer.Option(None, "--stocks", help="Take the first N symbols of the selection (default 50 for synthetic)."),
    bars: Optional[int] = typer.Option(None, "--bars", help="Synthetic only: bars per stock (default 2520)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Synthetic only: random seed (default 42)."),
    start: Optional[str] = typer.Option(None, "--start", help="First date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last date (YYYY-MM-DD)."),
    strategy: str = typer.Option("adaptive", "--strategy", help="adaptive | fixed"),
    rsi_period: int = typer.Option(14, "--rsi-period", help="RSI period (start value when adaptive)."),
    buy: float = typer.Option(30.0, "--buy", help="Buy when RSI is below this."),
    sell: float = typer.Option(70.0, "--sell", help="Sell when RSI is above this."),
    fill: Optional[str] = typer.Option(None, "--fill", help="next_open (default) | close (optimistic)."),
    commission_bps: Optional[float] = typer.Option(None, "--commission-bps", help="Commission per side, basis points (default 1)."),
    slippage_bps: Optional[float] = typer.Option(None, "--slippage-bps", help="Slippage per side, basis points (default 5)."),
    whole_shares: bool = typer.Option(False, "--whole-shares", help="Buy floor(cash / (fill price x (1 + commission))) shares instead of fractional (archive: with --prices raw)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html here."),
    db: Optional[str] = typer.Option(None, "--db", help="Run store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record the run in the DuckDB store."),
    prices: Optional[str] = typer.Option(None, "--prices", help="Archive: adjusted (vs SPY, default) | raw (vs ^GSPC)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Archive repair policy: error | drop | ffill."),
    top: int = typer.Option(10, "--top", help="Rows of the ranked table to print."),
    report_symbol: Optional[str] = typer.Option(None, "--report-symbol", help="Stock shown in report.html (default: best Sharpe)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="serial | threads | processes | dask (default auto: threads, one per core or --workers; dask with --scheduler)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes for processes / a local Dask cluster (default: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Running Dask scheduler, tcp://HOST:PORT (implies --executor dask)."),
    sector: Optional[str] = typer.Option(None, "--sector", help='Only this GICS sector of the universe, e.g. "Information Technology".'),
    mode: str = typer.Option("per-stock", "--mode", help="per-stock (each stock all-in on its own account) | portfolio (one account, execution + risk; docs/risk.md)."),
    min_volume: Optional[float] = typer.Option(None, "--min-volume", help="Archive: keep stocks whose average daily volume (shares, 20 sessions before --start) is at least this; split-adjusted volumes, see docs/universe.md."),
    min_dollar_volume: Optional[float] = typer.Option(None, "--min-dollar-volume", help="Archive: the same filter on close x volume (dollars), which splits do not change."),
    warmup_from: Optional[str] = typer.Option(None, "--warmup-from", help="Portfolio mode, archive: Kelly's first statistics learned on an earlier period START..END or a stored run's period (default: paper trades on the run's own data)."),
) -> None:
    """Backtest the RSI strategy per stock (all-in), rank the stocks and aggregate."""
    from adaptrade.settings import load_settings

    symbols = check_symbols(symbols)
    check_top(top)
    check_out(out)
    bars, seed = _synthetic_only(source, bars, seed)
    settings = load_settings(**db_overrides(db), price_basis=prices, repair_policy=policy, kelly_warmup_from=warmup_from,
                             **_executor_flags(executor, workers, scheduler))
    if stocks is None and not symbols and source == "synthetic":
        stocks = 50
    universe_notes: tuple[str, ...] = ()
    if not symbols and (sector or universe in ("extended", "nasdaq100-pit")):
        symbols, universe_notes = _universe_symbols(universe, sector, data_dir, settings, source, start)
    filter_notes: tuple[str, ...] = ()
    if min_volume is not None or min_dollar_volume is not None:
        symbols, filter_notes = _liquid_symbols(source, symbols, universe, sector, data_dir, start, min_volume, min_dollar_volume, settings)
    filter_notes = universe_notes + filter_notes
    req = _request(source, data_dir, symbols, universe, stocks, bars, seed, start, end, strategy, rsi_period, buy, sell, fill, commission_bps, slippage_bps, whole_shares, settings)
    if filter_notes:
        from dataclasses import replace

        req = replace(req, notes=filter_notes)
    if mode not in ("per-stock", "portfolio"):
        from adaptrade.errors import ConfigError

        raise ConfigError(f"unknown mode '{mode}' (per-stock|portfolio)", field="mode")
    if mode == "portfolio":
        from adaptrade.commands.portfolio import run_portfolio_mode

        run_portfolio_mode(req, settings, "adaptrade backtest", out, not no_store, top, report_symbol, console)
        return
    result = _run_and_report(req, settings, "adaptrade backtest", out, not no_store, top, report_symbol)
    if result.settings.get("complete") is False:
        raise typer.Exit(3)  # incomplete: what was computed is written and stored, failed symbols listed


@handle_errors
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Where the two runs write their files."),
) -> None:
    """The seed's experiment (50 NASDAQ-100 names, synthetic) and the same strategy on real data."""
    from adaptrade.data.sample import sample_dir
    from adaptrade.settings import load_settings

    settings = load_settings()
    def request(source: str, data_dir: Optional[Path], symbols: Optional[str], stocks: Optional[int]) -> RunRequest:
        return _request(source, data_dir, symbols, "nasdaq100", stocks, 2520, 42, None, None, "adaptive", 14, 30.0, 70.0,
                        None, None, None, False, settings)

    syn = request("synthetic", None, None, 50)
    r_syn = _run_and_report(syn, settings, "1) the seed's experiment: 50 NASDAQ-100 names on SYNTHETIC mean-reverting data", out / "synthetic", True, 10)
    console.print()
    from adaptrade.data.archive import available_symbols

    shipped = ",".join(sorted(available_symbols(sample_dir())))
    real = request("archive", sample_dir(), shipped, None)
    r_real = _run_and_report(real, settings, "2) the same strategy on REAL daily data (shipped sample)", out / "real", True, 10)

    def beat(r: BacktestResult) -> str:
        s = r.stocks
        return (f"{int((s['outperformance'] > 0).sum())}/{len(s)} beat {r.benchmark_symbol}, "
                f"{int((s['total_return'] > s['buy_hold_return']).sum())}/{len(s)} beat buy & hold")

    console.print(
        f"\n[bold]Read these together:[/bold] synthetic: {beat(r_syn)}; real: {beat(r_real)}. The synthetic data "
        "has a mean-reverting component that an RSI strategy exploits by design; real prices are close to a "
        "random walk with drift. The real-data table is the one to believe (docs/results.md has the full study)."
    )
