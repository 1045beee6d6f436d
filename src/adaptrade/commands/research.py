"""The research commands: `adaptrade experiment phase7|walkforward` and `adaptrade sweep`.

Heavy imports happen inside the commands so `adaptrade --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from adaptrade.commands.common import check_out, check_top, console, fail
from adaptrade.commands.common import err_console as err
from adaptrade.errors import AdaptradeError, ConfigError

experiment_app = typer.Typer(no_args_is_help=True, help="Reproduce and stress-test the seed's experiment (walk-forward, PSR/DSR, real data).")


def _sources(source: str) -> tuple[str, ...]:
    """--source synthetic|archive|all -> the sources to run."""
    if source == "all":
        return ("synthetic", "archive")
    if source not in ("synthetic", "archive"):
        raise ConfigError(f"unknown source '{source}' (synthetic|archive|all)", field="source")
    return (source,)


@experiment_app.command("phase7")
def phase7(
    source: str = typer.Option("all", "--source", help="synthetic | archive | all (both, the default)."),
    out: Path | None = typer.Option(None, "--out", help="Write phase7.json, phase7.csv and per-stock verdict CSVs here."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data root (default: ADAPTRADE_DATA_DIR, ../shared/data)."),
    stocks: int = typer.Option(50, "--stocks", help="First N NASDAQ-100 names (the seed used 50)."),
    in_sample: int | None = typer.Option(None, "--in-sample", help="Walk-forward in-sample bars (default: setting wf_in_sample_bars, 756)."),
    out_of_sample: int | None = typer.Option(None, "--out-of-sample", help="Walk-forward out-of-sample bars (default 252)."),
    write_docs: Path | None = typer.Option(None, "--write-docs", help="Also run the sweeps and the random-walk check and write this Markdown file (docs/results.md)."),
    sweep_trials: int = typer.Option(200, "--sweep-trials", help="With --write-docs: random-sweep trials per source."),
) -> None:
    """The seed's Phase 7 experiment on synthetic and real data, costs on/off, both fills, vs the seed's own figures."""
    from adaptrade.research.phase7 import Phase7Config, run_phase7, write_outputs
    from adaptrade.reports.research import print_phase7
    from adaptrade.settings import load_settings

    try:
        check_out(out)
        settings = load_settings(data_dir=data_dir)
        cfg = Phase7Config(sources=_sources(source), stocks=stocks,
                           wf_in_sample_bars=in_sample or settings.wf_in_sample_bars,
                           wf_out_of_sample_bars=out_of_sample or settings.wf_out_of_sample_bars,
                           n_boot=settings.bootstrap_samples)
        doc = run_phase7(cfg, settings, data_dir, log=lambda m: err.print(escape(m), highlight=False))
        print_phase7(console, doc)
        if out is not None:
            files = write_outputs(doc, out)
            from adaptrade.reports.research_html import phase7_report

            files.append(phase7_report(doc, out / "report.html"))
            console.print(f"wrote {len(files)} files to {escape(str(out))}/ (phase7.json, phase7.csv, stocks_*.csv, report.html)")
        if write_docs is not None:
            from adaptrade.reports.results_doc import write_results

            write_results(write_docs, doc, settings, data_dir, sweep_trials, log=lambda m: err.print(escape(m), highlight=False))
            console.print(f"wrote {escape(str(write_docs))}")
    except AdaptradeError as exc:
        raise fail(exc) from None


@experiment_app.command("walkforward")
def walkforward(
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data root."),
    stocks: int = typer.Option(50, "--stocks", help="First N NASDAQ-100 names."),
    bars: int = typer.Option(2520, "--bars", help="Synthetic: bars per stock."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: random seed."),
    start: str | None = typer.Option(None, "--start", help="Archive: first date."),
    end: str | None = typer.Option(None, "--end", help="Last date (default: the data_end setting)."),
    mode: str | None = typer.Option(None, "--mode", help="carry | frozen | reset | select | all (default: setting wf_mode, carry)."),
    candidates: int = typer.Option(30, "--candidates", help="select: random configurations tried in every in-sample window."),
    in_sample: int | None = typer.Option(None, "--in-sample", help="In-sample bars per window (default 756)."),
    out_of_sample: int | None = typer.Option(None, "--out-of-sample", help="Out-of-sample bars per window (default 252)."),
    out: Path | None = typer.Option(None, "--out", help="Write walkforward.json here."),
) -> None:
    """Rolling in-sample / out-of-sample windows: learn in-sample, score only out of sample."""
    import json

    from adaptrade.parallel import runner
    from adaptrade.backtest.engine import Features
    from adaptrade.research.phase7 import jsonable, strategy_config
    from adaptrade.reports.research import print_walk_forward
    from adaptrade.research.walkforward import (
        MODES,
        candidate_configs,
        summarize,
        walk_forward,
    )
    from adaptrade.settings import load_settings

    try:
        check_out(out)
        settings = load_settings(data_dir=data_dir)
        modes = list(MODES) if mode == "all" else [mode or settings.wf_mode]
        if any(m not in MODES for m in modes):
            raise ConfigError(f"unknown mode '{mode}' (carry|frozen|reset|select|all)", field="mode")
        cfg = strategy_config(settings, True, settings.fill)
        req = runner.RunRequest(source=_sources(source)[0], universe="nasdaq100", stocks=stocks, bars=bars, seed=seed,  # type: ignore[arg-type]
                                start=start, end=end or settings.data_end, data_dir=data_dir, strategy=cfg)
        loaded = runner.load_data(req, settings)
        feats = Features.compute(loaded.bars)
        cands = candidate_configs(cfg, candidates, seed) if "select" in modes else None
        if cands is not None and not cands:
            raise ConfigError("--candidates must be at least 1", field="candidates")
        docs = {}
        for m in modes:
            runs = walk_forward(loaded.bars, cfg, in_sample or settings.wf_in_sample_bars, out_of_sample or settings.wf_out_of_sample_bars, m, feats, cands)  # type: ignore[arg-type]
            docs[m] = summarize(runs, loaded.bars, loaded.benchmark_close, m, seed=seed)
            print_walk_forward(console, docs[m], f"walk-forward ({m}) on {source}, {loaded.bars.n_symbols} stocks, benchmark {loaded.benchmark_symbol}")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "walkforward.json").write_text(json.dumps(jsonable(docs), indent=2) + "\n")
            from adaptrade.reports.research_html import walkforward_report

            walkforward_report(docs, out / "report.html", f"adaptrade walk-forward report ({source}, {loaded.bars.n_symbols} stocks)")
            console.print(f"wrote {escape(str(out))}/walkforward.json, {escape(str(out))}/report.html")
    except AdaptradeError as exc:
        raise fail(exc) from None


def sweep(
    method: str = typer.Option("random", "--method", help="grid | random"),
    params: str | None = typer.Option(None, "--params", help="'rsi_period=10..21;buy=25,30;kind=adaptive,fixed' (grid: the product; random: restricts the draws)."),
    trials: int | None = typer.Option(None, "--trials", help="Random: number of trials (grid: cap)."),
    sweep_seed: int = typer.Option(0, "--sweep-seed", help="Random: seed of the parameter draws."),
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data root."),
    stocks: int = typer.Option(50, "--stocks", help="First N names of the universe (synthetic: padded with SYN0001.. past the NASDAQ-100)."),
    universe: str = typer.Option("nasdaq100", "--universe", help="nasdaq100 | extended | nasdaq100-pit (members on --start)."),
    bars: int = typer.Option(2520, "--bars", help="Synthetic: bars per stock."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: data seed."),
    start: str | None = typer.Option(None, "--start", help="Archive: first date."),
    end: str | None = typer.Option(None, "--end", help="Last date (default: the data_end setting)."),
    executor: str | None = typer.Option(None, "--executor", help="serial | threads | processes | dask (default auto: threads; Dask for big sweeps)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Running Dask scheduler tcp://HOST:PORT."),
    db: str | None = typer.Option(None, "--db", help="Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record the trials (the DSR then counts this sweep only)."),
    out: Path | None = typer.Option(None, "--out", help="Write trials.csv and sweep.json here."),
    top: int = typer.Option(10, "--top", help="Best trials to print."),
) -> None:
    """Sweep strategy settings (grid or random) on an executor; record every trial; deflate the best by all of them."""
    from adaptrade.commands.sweep_flow import run_sweep_command

    try:
        check_out(out)
        check_top(top)
        run_sweep_command(console, err, method=method, params=params, trials=trials, sweep_seed=sweep_seed, source=_sources(source)[0],
                          data_dir=data_dir, stocks=stocks, bars=bars, seed=seed, start=start, end=end, executor=executor,
                          workers=workers, scheduler=scheduler, db=db, store=not no_store, out=out, top=top, universe=universe)
    except AdaptradeError as exc:
        raise fail(exc) from None


@experiment_app.command("regimes")
def regimes(
    stocks: int = typer.Option(20, "--stocks", help="Synthetic stocks per grid cell."),
    bars: int = typer.Option(1260, "--bars", help="Bars per synthetic stock (5 years)."),
    seed: int = typer.Option(42, "--seed", help="Seed of the synthetic shocks (the same in every cell)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data root for the real stocks' reversal (default: ADAPTRADE_DATA_DIR, ../shared/data, else the sample)."),
    start: str = typer.Option("2014-03-10", "--start", help="Real stocks: first date of the VR(5) measurement."),
    out: Path | None = typer.Option(None, "--out", help="Write regimes.csv, real_vr5.csv and report.html here."),
) -> None:
    """The seed's experiment over a grid of OU half-life x size and costs/fills, against real stocks' short-horizon reversal."""
    from adaptrade.commands.common import check_out
    from adaptrade.parallel import runner
    from adaptrade.reports.research_html import regimes_figure
    from adaptrade.research.regimes import real_reversal, run_regimes, summary_lines
    from adaptrade.settings import load_settings

    try:
        check_out(out)
        if stocks < 1 or bars < 100:
            raise ConfigError("--stocks must be >= 1 and --bars >= 100", field="stocks" if stocks < 1 else "bars")
        settings = load_settings()
        runner.check_memory(stocks, bars, settings)
        grid = run_regimes(stocks, bars, seed, settings.data_end, log=lambda m: err.print(escape(m), highlight=False))
        req = runner.RunRequest(source="archive", universe="nasdaq100", stocks=None, start=start, end=settings.data_end, data_dir=data_dir)
        real = real_reversal(runner.load_data(req, settings).bars)
    except AdaptradeError as exc:
        raise fail(exc) from None
    from rich.table import Table

    t = Table(title=f"regimes: {stocks} synthetic stocks x {bars} bars per cell, adaptive RSI (seed: Sharpe 3.8, win 93%, 47/50 beat)",
              title_justify="left")
    for c in ("half-life", "OU size", "VR(5)", "variant", "Sharpe", "win rate", "beat index", "mean return", "trades"):
        t.add_column(c, justify="right")
    for r in grid.itertuples(index=False):
        t.add_row(f"{r.half_life:g} d", f"{r.ou_size:g}x", f"{r.vr5:.3f}", r.variant, f"{r.mean_sharpe:.2f}", f"{r.win_rate:.0%}",
                  f"{r.beat_share:.0%}", f"{r.mean_return:+.1%}", f"{r.trades:.0f}")
    console.print(t)
    lines = summary_lines(grid, real)
    for line in lines:
        console.print(escape(line), highlight=False, soft_wrap=True)
    if out is not None:
        from adaptrade.reports.research_html import _page

        out.mkdir(parents=True, exist_ok=True)
        grid.to_csv(out / "regimes.csv", index=False)
        real.to_csv(out / "real_vr5.csv", index=False)
        from adaptrade.reports.html_tables import html_table

        _page("adaptrade experiment regimes", lines, [regimes_figure(grid, real)], "<h2>Grid</h2>" + html_table(grid, "ranking"), out / "report.html")
        console.print(f"wrote {escape(str(out))}/regimes.csv, real_vr5.csv, report.html")
