"""The `adaptrade` command line: thin wrappers that parse flags and call the layers.

Expected errors (`AdaptradeError`) print one line naming file/row/field and exit non-zero;
only bugs show a traceback. Heavy imports happen inside commands so `--help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from adaptrade.errors import AdaptradeError

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="Backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe.",
)
data_app = typer.Typer(no_args_is_help=True, help="Inspect and validate market data.")
app.add_typer(data_app, name="data")

console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


@data_app.command("check")
def data_check(
    directory: Path = typer.Argument(..., help="Folder of SYMBOL.csv / .csv.gz / .parquet files (or the shared data root)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Repair policy for recoverable defects: error|drop|ffill."),
) -> None:
    """Validate every file in DIR and print the data-quality report."""
    from rich.markup import escape

    from adaptrade.data.archive import check_archive
    from adaptrade.data.validate import check_policy
    from adaptrade.settings import load_settings

    try:
        settings = load_settings()
        chosen = check_policy(policy or settings.repair_policy)
        report = check_archive(directory, policy=chosen, cache_dir=settings.cache_dir,
                               jump_threshold=settings.jump_threshold)
    except AdaptradeError as exc:  # one line, exit 2, also when called through typer's CliRunner
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.describe())}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    report.render(console)
    console.print(f"[green]OK[/green]: all {len(report.symbols)} files in {escape(str(directory))} are usable "
                  f"under policy '{chosen}'.", highlight=False)


# --------------------------------------------------------------------------- runs (the DuckDB run store)

runs_app = typer.Typer(no_args_is_help=True, help="List and inspect backtest runs kept in the DuckDB run store.")
app.add_typer(runs_app, name="runs")


def _runs_db(db: Optional[Path]) -> Path:
    """The run store path: --db, else Settings().db_path."""
    from adaptrade.settings import load_settings

    return Path(db) if db is not None else Path(load_settings().db_path)


def _runs_fail(exc: AdaptradeError) -> "typer.Exit":
    """Print an expected store error in one line; the Exit to raise (also right under CliRunner)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/bold red] {escape(exc.describe())}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def _runs_fmt(key: str, v: object) -> str:
    """A summary value for the terminal: percentages for returns / shares / rates / drawdowns."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float) and any(w in key for w in ("std", "share", "rate", "exposure")):
        return f"{v * 100:.1f}%"
    if isinstance(v, float) and any(w in key for w in ("return", "drawdown", "outperformance")):
        return f"{v * 100:+.2f}%"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list):
        return ", ".join(map(str, v[:10])) + (f" … (+{len(v) - 10})" if len(v) > 10 else "")
    return str(v)


@runs_app.command("list")
def runs_list(db: Optional[Path] = typer.Option(None, "--db", help="DuckDB run store (default: Settings().db_path).")) -> None:
    """List the stored runs, oldest first."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.storage.runs import RunStore

    path = _runs_db(db)
    if not path.exists():
        console.print(f"no runs stored yet ({escape(str(path))} does not exist)")
        return
    try:
        with RunStore(path, read_only=True) as rs:
            runs = rs.list_runs()
    except AdaptradeError as exc:
        raise _runs_fail(exc) from None
    if runs.empty:
        console.print(f"no runs stored yet in {escape(str(path))}")
        return
    t = Table(title=f"runs in {escape(str(path))}", title_justify="left")
    for col in runs.columns:
        t.add_column(col, justify="right" if col in ("stocks", "mean_return", "beat_share", "mean_sharpe") else "left", no_wrap=col in ("id", "created", "dates"))
    runs["created"] = runs["created"].str.slice(0, 16).str.replace("T", " ")
    runs["dates"] = runs["dates"].str.replace(" .. ", "..")
    for r in runs.itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(runs.columns, r)])
    console.print(t)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id, as printed by `adaptrade runs list`."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB run store (default: Settings().db_path)."),
    top: int = typer.Option(10, "--top", help="Rows of the ranked stocks table."),
) -> None:
    """Print one run's settings and summary, then the top of its stocks ranked by Sharpe."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.backtest.aggregate import rank
    from adaptrade.errors import StoreError
    from adaptrade.storage.runs import RunStore

    path = _runs_db(db)
    try:
        if not path.exists():
            raise StoreError(f"unknown run id '{run_id}' (no run store here)", file=path)
        with RunStore(path, read_only=True) as rs:
            run = rs.load_run(run_id)
    except AdaptradeError as exc:
        raise _runs_fail(exc) from None
    s, summ = run["settings"], run["summary"]
    agg = summ.get("aggregate", summ) if isinstance(summ.get("aggregate"), dict) else summ
    head = Table(show_header=False, box=None, pad_edge=False, title=f"run {run['id']}", title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    fill = s.get("fill")
    for k, v in [("created", run["created"]), ("status", run["status"]), ("source", s.get("source")),
                 ("dates", f"{s.get('start')} .. {s.get('end')}"), ("benchmark", s.get("benchmark")),
                 ("strategy", f"{s.get('strategy')} (RSI {s.get('rsi_period')}, {s.get('buy')}/{s.get('sell')})"),
                 ("costs", f"commission {s.get('commission_bps')} bps + slippage {s.get('slippage_bps')} bps per side"),
                 ("fill", "close (OPTIMISTIC: fills at the signal bar's close)" if fill == "close" else fill)]:  # fmt: skip
        head.add_row(k, escape(str(v)))
    for k, v in agg.items():
        if not isinstance(v, dict):
            head.add_row(escape(k), escape(_runs_fmt(k, v)))
    console.print(head)
    ranked = rank(run["stocks"], "sharpe").head(top)
    if "recommended" in ranked:
        ranked["recommended"] = ranked["recommended"].map({True: "yes", False: ""})
    t = Table(title=f"top {len(ranked)} of {len(run['stocks'])} by Sharpe", title_justify="left")
    cols = ["rank", "symbol", "total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate", "sharpe", "max_drawdown", "trades", "exposure", "recommended"]
    cols = [c for c in cols if c in ranked.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "symbol" else "right")
    for r in ranked[cols].itertuples(index=False):
        t.add_row(*[escape(_runs_fmt(c, v)) for c, v in zip(cols, r)])
    console.print(t)


# --------------------------------------------------------------------------- universe (selection, liquidity, scores)

universe_app = typer.Typer(no_args_is_help=True, help="The NASDAQ universe: selections, liquidity filter, quality scores.")
app.add_typer(universe_app, name="universe")


def _fail(exc: AdaptradeError) -> "typer.Exit":
    """Print an expected error in one line; the Exit to raise (also right under CliRunner)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/bold red] {escape(exc.describe())}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


@universe_app.command("scores")
def universe_scores(
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store with the scores (default: Settings().db_path)."),
    top: int = typer.Option(30, "--top", help="Rows to print (best first)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="Print this stock's score history instead."),
) -> None:
    """Print the latest quality score of every stock (written by `adaptrade cycle`)."""
    from rich.table import Table

    from adaptrade.settings import load_settings
    from adaptrade.storage.scores import ScoreStore

    path = Path(db) if db is not None else Path(load_settings().db_path)
    try:
        with ScoreStore(path, read_only=True) as ss:
            df = ss.history(symbol.upper()) if symbol else ss.latest().head(top)
    except AdaptradeError as exc:
        raise _fail(exc) from None
    if df.empty:
        console.print(f"no scores stored in {path}" + (f" for {symbol.upper()}" if symbol else ""))
        return
    t = Table(title=(f"score history of {symbol.upper()}" if symbol else f"latest quality scores ({len(df)} shown)") + f" in {path}", title_justify="left")
    cols = ["symbol", "score", "sharpe", "win_rate", "trades", "outperformance", "cycle", "period_start", "period_end", "run_id"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("symbol", "run_id") else "right")
    for r in df[cols].itertuples(index=False):
        t.add_row(r.symbol, f"{r.score:.3f}", f"{r.sharpe:.2f}", f"{r.win_rate * 100:.0f}%" if r.win_rate == r.win_rate else "—",
                  f"{r.trades:.0f}", f"{r.outperformance * 100:+.1f}%" if r.outperformance == r.outperformance else "—",
                  str(r.cycle), str(r.period_start), str(r.period_end), str(r.run_id))
    console.print(t)
    console.print("score = 0.5*sigmoid(sharpe) + 0.3*(wins+1)/(trades+2) + 0.2*sigmoid(outperformance/0.2) (default weights; docs/universe.md)")


@universe_app.command("list")
def universe_list(
    universe: str = typer.Option("nasdaq100", "--universe", help="nasdaq100 | extended"),
    sector: Optional[str] = typer.Option(None, "--sector", help='GICS sector, e.g. "Information Technology".'),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Explicit comma-separated list instead."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data root (default: ADAPTRADE_DATA_DIR)."),
    start: Optional[str] = typer.Option(None, "--start", help="Apply the liquidity filter as of this backtest start."),
    min_volume: Optional[float] = typer.Option(None, "--min-volume", help="Minimum average daily volume (default 1,000,000)."),
    window: Optional[int] = typer.Option(None, "--window", help="Sessions before --start to average (default 20)."),
) -> None:
    """Print a selection and, with --start, which stocks the liquidity filter drops and why."""
    from adaptrade.settings import load_settings
    from adaptrade.universe.liquidity import liquidity_filter
    from adaptrade.universe.universe import NasdaqUniverse

    try:
        settings = load_settings()
        root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
        chosen = NasdaqUniverse(root).select(universe, sector, [s for s in (symbols or "").split(",") if s.strip()] or None)
        console.print(f"{len(chosen)} symbols: {', '.join(chosen)}", highlight=False, soft_wrap=True)
        if start:
            rep = liquidity_filter(root, chosen, start, window=window or settings.liquidity_window,
                                   min_volume=settings.min_volume if min_volume is None else min_volume,
                                   cache_dir=settings.cache_dir, policy=settings.repair_policy)
            console.print(f"liquidity (ADV over {rep.window} sessions before {rep.start}, min {rep.min_volume:,.0f}): "
                          f"{len(rep.kept)} kept, {len(rep.dropped)} dropped", highlight=False)
            for line in rep.lines():
                console.print(f"  dropped {line}", highlight=False)
    except AdaptradeError as exc:
        raise _fail(exc) from None


# --------------------------------------------------------------------------- backtest


def _request(
    source: str, data_dir: Optional[Path], symbols: Optional[str], universe: Optional[str], stocks: Optional[int],
    bars: int, seed: int, start: Optional[str], end: Optional[str], strategy: str, rsi_period: int, buy: float,
    sell: float, fill: Optional[str], commission_bps: Optional[float], slippage_bps: Optional[float], whole_shares: bool,
    settings: "object",
) -> "object":
    """Flags + settings -> a RunRequest (flags win over ADAPTRADE_* settings)."""
    from adaptrade.backtest.runner import RunRequest
    from adaptrade.errors import ConfigError
    from adaptrade.strategy.params import StrategyConfig

    if strategy not in ("adaptive", "fixed"):
        raise ConfigError(f"unknown strategy '{strategy}' (adaptive|fixed)", field="strategy")
    if source not in ("synthetic", "archive"):
        raise ConfigError(f"unknown source '{source}' (synthetic|archive)", field="source")
    cfg = StrategyConfig(
        kind=strategy,  # type: ignore[arg-type]
        rsi_period=rsi_period,
        buy=buy,
        sell=sell,
        fill=fill or settings.fill,  # type: ignore[attr-defined]
        commission_bps=settings.commission_bps if commission_bps is None else commission_bps,  # type: ignore[attr-defined]
        slippage_bps=settings.slippage_bps if slippage_bps is None else slippage_bps,  # type: ignore[attr-defined]
        whole_shares=whole_shares or settings.whole_shares,  # type: ignore[attr-defined]
        initial_cash=settings.initial_cash,  # type: ignore[attr-defined]
        learning_alpha=settings.learning_alpha,  # type: ignore[attr-defined]
        min_trades_to_adapt=settings.min_trades_to_adapt,  # type: ignore[attr-defined]
        threshold_step=settings.threshold_step,  # type: ignore[attr-defined]
    )
    sym = tuple(s for s in (symbols or "").split(",") if s.strip())
    return RunRequest(
        source=source,  # type: ignore[arg-type]
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


def _run_and_report(req: "object", settings: "object", title: str, out: Optional[Path], store: bool, top: int, report_symbol: Optional[str] = None) -> "object":
    """Run with a progress bar, print the tables, write files and store the run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from adaptrade.backtest import runner
    from adaptrade.backtest.output import summary, write_outputs
    from adaptrade.backtest.present import print_run

    loaded = runner.load_data(req, settings)  # type: ignore[arg-type]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("backtesting stocks", total=loaded.bars.n_symbols)
        result, _ = runner.run(req, settings, progress=lambda done: bar.update(task, completed=done), data=loaded)  # type: ignore[arg-type]
    doc = summary(result)
    doc.update(runner.completeness(result))
    print_run(console, result, doc, title, top=top)
    _print_failures(result)
    if out is not None:
        write_outputs(result, out, report_symbol=report_symbol, summary_doc=doc)
        console.print(f"wrote {out}/ (summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html)")
    if store:
        from adaptrade.storage.runs import RunStore

        with RunStore(settings.db_path) as rs:  # type: ignore[attr-defined]
            run_id = rs.save(result, doc)
        console.print(f"stored as run {run_id} in {settings.db_path}")  # type: ignore[attr-defined]
    return result


def _executor_flags(executor: Optional[str], workers: Optional[int], scheduler: Optional[str]) -> dict[str, object]:
    """--executor/--workers/--scheduler checked and turned into settings overrides."""
    from adaptrade.backtest.executors import EXECUTORS
    from adaptrade.errors import ConfigError

    if executor is not None and executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}' ({'|'.join(EXECUTORS)})", field="executor")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1", field="workers")
    return {"executor": executor, "workers": workers, "scheduler": scheduler}


def _universe_symbols(universe: Optional[str], sector: Optional[str], data_dir: Optional[Path], settings: "object", source: str) -> str:
    """--universe extended / --sector as an explicit symbol list (archive: only symbols with a data file)."""
    from adaptrade.universe.universe import NasdaqUniverse

    root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)  # type: ignore[attr-defined]
    chosen = NasdaqUniverse(root if root.exists() else None).select(universe or "nasdaq100", sector, None, with_data=source == "archive")
    return ",".join(chosen)


def _print_failures(result: "object") -> None:
    """Say loudly which stocks a run could not compute (the run is then marked incomplete)."""
    from rich.markup import escape

    failed = result.settings.get("failed_batches") or []  # type: ignore[attr-defined]
    if not failed:
        return
    n = sum(len(b["symbols"]) for b in failed)
    err_console.print(f"[bold red]INCOMPLETE:[/bold red] {n} stocks in {len(failed)} batches failed; results above leave them out.")
    for b in failed:
        err_console.print(f"  {escape(', '.join(b['symbols']))}: {escape(str(b['error']))}", highlight=False, soft_wrap=True)


@app.command("backtest")
def backtest(
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Archive folder (default: ADAPTRADE_DATA_DIR, ../shared/data, else the shipped sample)."),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT."),
    universe: Optional[str] = typer.Option(None, "--universe", help="Named universe when --symbols is absent: nasdaq100 | extended."),
    stocks: Optional[int] = typer.Option(None, "--stocks", help="Take the first N symbols of the selection (default 50 for synthetic)."),
    bars: int = typer.Option(2520, "--bars", help="Synthetic: bars per stock."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: random seed."),
    start: Optional[str] = typer.Option(None, "--start", help="First date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last date (YYYY-MM-DD)."),
    strategy: str = typer.Option("adaptive", "--strategy", help="adaptive | fixed"),
    rsi_period: int = typer.Option(14, "--rsi-period", help="RSI period (start value when adaptive)."),
    buy: float = typer.Option(30.0, "--buy", help="Buy when RSI is below this."),
    sell: float = typer.Option(70.0, "--sell", help="Sell when RSI is above this."),
    fill: Optional[str] = typer.Option(None, "--fill", help="next_open (default) | close (optimistic)."),
    commission_bps: Optional[float] = typer.Option(None, "--commission-bps", help="Commission per side, basis points (default 1)."),
    slippage_bps: Optional[float] = typer.Option(None, "--slippage-bps", help="Slippage per side, basis points (default 5)."),
    whole_shares: bool = typer.Option(False, "--whole-shares", help="Buy floor(cash / price) shares instead of fractional."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write summary.json, stocks.csv, trades.csv, params.csv, equity.parquet, report.html here."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB run store (default ./adaptrade.duckdb)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record the run in the DuckDB store."),
    prices: Optional[str] = typer.Option(None, "--prices", help="Archive: adjusted (vs SPY, default) | raw (vs ^GSPC)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Archive repair policy: error | drop | ffill."),
    top: int = typer.Option(10, "--top", help="Rows of the ranked table to print."),
    report_symbol: Optional[str] = typer.Option(None, "--report-symbol", help="Stock shown in report.html (default: best Sharpe)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="serial | processes | dask (default auto: serial; processes with --workers > 1 or 2,000 x 2,520 stock-bars on 4+ cores; dask with --scheduler)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes for processes / a local Dask cluster (default: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Running Dask scheduler, tcp://HOST:PORT (implies --executor dask)."),
    sector: Optional[str] = typer.Option(None, "--sector", help='Only this GICS sector of the universe, e.g. "Information Technology".'),
    mode: str = typer.Option("per-stock", "--mode", help="per-stock (each stock all-in on its own account) | portfolio (one account, execution + risk; docs/risk.md)."),
) -> None:
    """Backtest the RSI strategy per stock (all-in), rank the stocks and aggregate."""
    from adaptrade.settings import load_settings

    settings = load_settings(db_path=db, price_basis=prices, repair_policy=policy, **_executor_flags(executor, workers, scheduler))
    if stocks is None and not symbols and source == "synthetic":
        stocks = 50
    if not symbols and (sector or universe == "extended"):
        symbols = _universe_symbols(universe, sector, data_dir, settings, source)
    req = _request(source, data_dir, symbols, universe, stocks, bars, seed, start, end, strategy, rsi_period, buy, sell, fill, commission_bps, slippage_bps, whole_shares, settings)
    if mode not in ("per-stock", "portfolio"):
        from adaptrade.errors import ConfigError

        raise ConfigError(f"unknown mode '{mode}' (per-stock|portfolio)", field="mode")
    if mode == "portfolio":
        from adaptrade.backtest.portfolio_run import run_portfolio_mode

        run_portfolio_mode(req, settings, "adaptrade backtest", out, not no_store, top, report_symbol, console)
        return
    result = _run_and_report(req, settings, "adaptrade backtest", out, not no_store, top, report_symbol)
    if result.settings.get("complete") is False:  # type: ignore[attr-defined]
        raise typer.Exit(3)  # incomplete: what was computed is written and stored, failed symbols listed


@app.command("cycle")
def cycle(
    cycles: int = typer.Option(3, "--cycles", help="Number of consecutive, non-overlapping periods (K)."),
    period_bars: Optional[int] = typer.Option(None, "--period-bars", help="Sessions per period (default 504 = 2 years)."),
    years: Optional[float] = typer.Option(None, "--years", help="Period length in years of 252 sessions (instead of --period-bars)."),
    select: Optional[int] = typer.Option(None, "--select", help="Trade the top N by score from earlier cycles (default: setting cycle_select, 20)."),
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data root (default: ADAPTRADE_DATA_DIR, ../shared/data)."),
    universe: str = typer.Option("nasdaq100", "--universe", help="nasdaq100 | extended"),
    sector: Optional[str] = typer.Option(None, "--sector", help='Only this GICS sector, e.g. "Information Technology".'),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Explicit comma-separated candidates instead."),
    stocks: Optional[int] = typer.Option(None, "--stocks", help="Take the first N candidates."),
    start: Optional[str] = typer.Option(None, "--start", help="First day of cycle 1 (default: the last K periods up to --end)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day of the data to use (default 2024-03-08)."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: random seed."),
    strategy: str = typer.Option("adaptive", "--strategy", help="adaptive | fixed"),
    min_volume: Optional[float] = typer.Option(None, "--min-volume", help="Archive: liquidity filter, min average daily volume before each period."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB store for the scores (default ./adaptrade.duckdb)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not store the scores."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write cycles.csv (comparison) and selection.csv here."),
    executor: Optional[str] = typer.Option(None, "--executor", help="serial | processes | dask"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Running Dask scheduler tcp://HOST:PORT."),
) -> None:
    """Backtest K consecutive periods; each period selects the best-scored stocks of the earlier ones and is
    judged out of sample against the stocks it did not select."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings
    from adaptrade.universe.cycles import run_cycles, summary_table, verdict
    from adaptrade.universe.universe import NasdaqUniverse

    try:
        if period_bars is not None and years is not None:
            raise ConfigError("give --period-bars or --years, not both", field="period_bars")
        bars_per = period_bars if period_bars is not None else int(round((years or 2.0) * 252))
        settings = load_settings(db_path=db, data_dir=data_dir, min_volume=min_volume, **_executor_flags(executor, workers, scheduler))
        n_sel = select if select is not None else settings.cycle_select
        root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
        u = NasdaqUniverse(root if root.exists() else None)
        cands = u.select(universe, sector, [s for s in (symbols or "").split(",") if s.strip()] or None, with_data=source == "archive")
        cands = cands[:stocks] if stocks else cands
        req = _request(source, data_dir, ",".join(cands), None, None, cycles * bars_per, seed, start, end, strategy, 14, 30.0, 70.0,
                       None, None, None, False, settings)

        def show(rep: "object") -> None:
            c = rep.comparison()  # type: ignore[attr-defined]
            sel = rep.selection  # type: ignore[attr-defined]
            chosen = sel.loc[sel["selected"], "symbol"].tolist()
            why = "top by score from earlier cycles" if c["scored_before"] else "no scores yet: first N in list order (baseline)"
            console.print(f"[bold]cycle {c['cycle']}[/bold] {c['start']}..{c['end']}: {len(sel)} candidates" + (" after the liquidity filter" if rep.dropped else "")  # type: ignore[attr-defined]
                          + (f" ({len(rep.dropped)} dropped)" if rep.dropped else "")  # type: ignore[attr-defined]
                          + f"; selected {len(chosen)} ({why}): {escape(', '.join(chosen))}", highlight=False, soft_wrap=True)
            if rep.failed:  # type: ignore[attr-defined]
                err_console.print(f"  [red]INCOMPLETE[/red]: failed {escape(', '.join(rep.failed))}")  # type: ignore[attr-defined]

        run_id, reps = run_cycles(req, settings, cands, cycles=cycles, period_bars=bars_per, select=n_sel,  # type: ignore[arg-type]
                                  db_path=None if no_store else Path(settings.db_path), on_cycle=show)
    except AdaptradeError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.describe())}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    tab = summary_table(reps)
    t = Table(title=f"selected vs unselected, out of sample per cycle (run {run_id})", title_justify="left")
    for col in ["cycle", "period", "scored before", "sel n", "sel return", "unsel return", "sel sharpe", "unsel sharpe", "sel beat", "unsel beat", "beats random"]:
        t.add_column(col, justify="right")
    pct = lambda x: "—" if x != x else f"{x * 100:+.2f}%"  # noqa: E731
    for r in tab.itertuples(index=False):
        t.add_row(str(r.cycle), f"{r.start}..{r.end}", "yes" if r.scored_before else "no (baseline)", f"{r.selected_n}/{r.selected_n + r.unselected_n}",
                  pct(r.selected_mean_return), pct(r.unselected_mean_return), f"{r.selected_mean_sharpe:.2f}", f"{r.unselected_mean_sharpe:.2f}",
                  f"{r.selected_beat_share * 100:.0f}%", f"{r.unselected_beat_share * 100:.0f}%",
                  "—" if r.random_percentile != r.random_percentile else f"{r.random_percentile * 100:.0f}%")
    console.print(t)
    console.print(verdict(tab), highlight=False, soft_wrap=True)
    if source == "synthetic":
        console.print("[yellow]synthetic data: per-stock parameters persist across periods by construction, which favours score persistence.[/yellow]")
    if not no_store:
        console.print(f"scores stored with run id {run_id} in {settings.db_path}; see `adaptrade universe scores`")
    if out is not None:
        import pandas as pd

        out.mkdir(parents=True, exist_ok=True)
        tab.to_csv(out / "cycles.csv", index=False)
        pd.concat([r.selection.assign(cycle=r.cycle) for r in reps]).to_csv(out / "selection.csv", index=False)
        console.print(f"wrote {out}/cycles.csv, {out}/selection.csv")


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Where the two runs write their files."),
) -> None:
    """The seed's experiment (50 NASDAQ-100 names, synthetic) and the same strategy on real data."""
    from adaptrade.data.sample import sample_dir
    from adaptrade.settings import load_settings

    settings = load_settings()
    common = dict(universe="nasdaq100", bars=2520, seed=42, start=None, end=None, strategy="adaptive", rsi_period=14, buy=30.0, sell=70.0, fill=None, commission_bps=None, slippage_bps=None, whole_shares=False, settings=settings)
    syn = _request("synthetic", None, None, stocks=50, **common)  # type: ignore[arg-type]
    _run_and_report(syn, settings, "1) the seed's experiment: 50 NASDAQ-100 names on SYNTHETIC mean-reverting data", out / "synthetic", True, 10)
    console.print()
    from adaptrade.data.archive import available_symbols

    shipped = ",".join(sorted(available_symbols(sample_dir())))
    real = _request("archive", sample_dir(), shipped, stocks=None, **common)  # type: ignore[arg-type]
    _run_and_report(real, settings, "2) the same strategy on REAL daily data (shipped sample)", out / "real", True, 10)
    console.print(
        "\n[bold]Read these together:[/bold] synthetic data is built with a mean-reverting component that an RSI "
        "strategy exploits by design; real prices are close to a random walk with drift, so the same rules "
        "usually trail buy-and-hold there. The real-data table is the one to believe."
    )


# --------------------------------------------------------------------------- research: experiment phase7|walkforward, sweep

from adaptrade.research.cli import register as _register_research  # noqa: E402

_register_research(app)


def _not_built(name: str) -> int:
    err_console.print(f"[red]{name}: not built yet[/red]")
    return 3


def main() -> None:
    """Console entry point: run the app, turning expected errors into one clear line."""
    try:
        app()
    except AdaptradeError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.describe()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
