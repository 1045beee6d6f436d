"""`adaptrade cycle`: K consecutive backtest periods, each selecting by the scores of the earlier ones."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adaptrade.commands.backtest import _executor_flags, _request
from adaptrade.commands.common import check_out, check_symbols, console, err_console, fail, handle_errors
from adaptrade.errors import AdaptradeError


@handle_errors
def cycle(
    cycles: int = typer.Option(3, "--cycles", help="Number of consecutive, non-overlapping periods (K)."),
    period_bars: Optional[int] = typer.Option(None, "--period-bars", help="Sessions per period (default 504 = 2 years)."),
    years: Optional[float] = typer.Option(None, "--years", help="Period length in years of 252 sessions (instead of --period-bars)."),
    select: Optional[int] = typer.Option(None, "--select", help="Trade the top N by score from earlier cycles (default: setting cycle_select, 20)."),
    source: str = typer.Option("synthetic", "--source", help="synthetic | archive"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data root (default: ADAPTRADE_DATA_DIR, ../shared/data)."),
    universe: str = typer.Option("nasdaq100", "--universe", help="nasdaq100 | extended | nasdaq100-pit (archive: each cycle's candidates are the NASDAQ-100 members on its start date)."),
    sector: Optional[str] = typer.Option(None, "--sector", help='Only this GICS sector, e.g. "Information Technology".'),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Explicit comma-separated candidates instead."),
    stocks: Optional[int] = typer.Option(None, "--stocks", help="Take the first N candidates."),
    start: Optional[str] = typer.Option(None, "--start", help="First day of cycle 1 (default: the last K periods up to --end)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day of the data to use (default: the data_end setting)."),
    seed: int = typer.Option(42, "--seed", help="Synthetic: random seed."),
    strategy: str = typer.Option("adaptive", "--strategy", help="adaptive | fixed"),
    min_volume: Optional[float] = typer.Option(None, "--min-volume", help="Archive: liquidity filter on min average daily volume (shares) before each period instead of dollars (split-adjusted volumes: look-ahead, see docs/universe.md)."),
    min_dollar_volume: Optional[float] = typer.Option(None, "--min-dollar-volume", help="Archive: liquidity filter on average close x volume (dollars) before each period; the default (setting cycle_min_dollar_volume, $20,000,000); splits do not change it."),
    db: Optional[str] = typer.Option(None, "--db", help="Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not store the scores."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write cycles.csv (comparison) and selection.csv here."),
    executor: Optional[str] = typer.Option(None, "--executor", help="serial | threads | processes | dask"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Running Dask scheduler tcp://HOST:PORT."),
) -> None:
    """Backtest K consecutive periods; each period selects the best-scored stocks of the earlier ones and is
    judged out of sample against the stocks it did not select."""
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.errors import ConfigError
    from adaptrade.research.cycles import (
        CycleReport,
        pit_by_cycle,
        pit_union,
        run_cycles,
        summary_table,
        verdict,
    )
    from adaptrade.settings import load_settings
    from adaptrade.universe.universe import PIT, NasdaqUniverse

    try:
        if period_bars is not None and years is not None:
            raise ConfigError("give --period-bars or --years, not both", field="period_bars")
        bars_per = period_bars if period_bars is not None else int(round((years or 2.0) * 252))
        from adaptrade.universe.liquidity import check_thresholds

        check_thresholds(min_volume, min_dollar_volume)
        from adaptrade.storage.backend import db_overrides, display, store_target

        symbols = check_symbols(symbols)
        check_out(out)
        settings = load_settings(**db_overrides(db), data_dir=data_dir, min_volume=min_volume, **_executor_flags(executor, workers, scheduler))
        if min_volume is None and min_dollar_volume is None:  # dollars by default: a share filter has split look-ahead
            min_dollar_volume = settings.cycle_min_dollar_volume
        n_sel = select if select is not None else settings.cycle_select
        explicit = [s.strip().upper() for s in (symbols or "").split(",") if s.strip()]
        pits = None
        if universe == PIT:  # candidates per cycle: the members on its start date (with a price file)
            if source != "archive":
                raise ConfigError(f"--universe {PIT} needs --source archive: the membership history names real stocks, "
                                  "synthetic data has none", field="universe")
            from adaptrade.parallel.runner import RunRequest, resolve_data_dir

            root, _ = resolve_data_dir(RunRequest(source="archive", data_dir=data_dir), settings)  # the folder the run reads
            u = NasdaqUniverse(root)
            pits = pit_by_cycle(u, source, cycles, bars_per, start, end)
            cands = pit_union(pits)  # loaded once; run_cycles restricts each cycle to its own members
            if explicit:
                if sector:
                    raise ConfigError("give either --symbols or --sector, not both", field="sector")
                cands = [s for s in explicit if s in set(cands)]
            elif sector:
                in_sector = set(u.select("nasdaq100", sector))  # current list's sectors: past members have none
                cands = [s for s in cands if s in in_sector]
            if not cands:
                raise ConfigError("no NASDAQ-100 member with a price file on any cycle's start date"
                                  + (" among the given symbols / sector" if explicit or sector else ""), field="universe")
        else:
            if source == "archive":
                from adaptrade.parallel.runner import RunRequest, resolve_data_dir

                root = resolve_data_dir(RunRequest(source="archive", data_dir=data_dir), settings)[0]
            else:
                root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
            u = NasdaqUniverse(root if root.exists() else None)
            cands = u.select(universe, sector, explicit or None, with_data=source == "archive")
        cands = cands[:stocks] if stocks else cands
        req = _request(source, data_dir, ",".join(cands), None, None, cycles * bars_per, seed, start, end, strategy, 14, 30.0, 70.0,
                       None, None, None, False, settings)

        if source == "archive":
            what = (f"average close x volume >= ${min_dollar_volume:,.0f} (dollars: splits do not change it)" if min_dollar_volume is not None
                    else f"average volume >= {settings.min_volume:,.0f} shares (split-adjusted: see the note below)")
            console.print(f"liquidity filter: {what} over the {settings.liquidity_window} sessions before each cycle", highlight=False, soft_wrap=True)

        def show(rep: CycleReport) -> None:
            c = rep.comparison()
            sel = rep.selection
            chosen = sel.loc[sel["selected"], "symbol"].tolist()
            if rep.pit_line():
                console.print(f"[bold]cycle {c['cycle']}[/bold] {rep.pit_line()}", highlight=False, soft_wrap=True)
            why = "top by score from earlier cycles" if c["scored_before"] else "no scores yet: first N in list order (baseline)"
            console.print(f"[bold]cycle {c['cycle']}[/bold] {c['start']}..{c['end']}: {len(sel)} candidates" + (" after the liquidity filter" if rep.dropped else "")
                          + (f" ({len(rep.dropped)} dropped)" if rep.dropped else "")
                          + f"; selected {len(chosen)} ({why}): {escape(', '.join(chosen))}", highlight=False, soft_wrap=True)
            if rep.failed:
                err_console.print(f"  [red]INCOMPLETE[/red]: failed {escape(', '.join(rep.failed))}")

        from adaptrade.commands.common import progress

        with progress("cycles", cycles) as (bar, task):
            def on_cycle(rep: CycleReport) -> None:
                show(rep)
                bar.advance(task)

            run_id, reps = run_cycles(req, settings, cands, cycles=cycles, period_bars=bars_per, select=n_sel,
                                      db_path=None if no_store else store_target(settings), on_cycle=on_cycle,
                                      min_dollar_volume=min_dollar_volume, pit=pits)
    except AdaptradeError as exc:
        raise fail(exc) from None
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
    if source == "archive" and min_dollar_volume is None:
        from adaptrade.universe.liquidity import SPLIT_NOTE

        console.print(f"note: the liquidity filter used a share threshold; {SPLIT_NOTE}", highlight=False, soft_wrap=True)
    if pits is not None:
        console.print(f"note: {PIT}: each cycle's candidates are the NASDAQ-100 members on its start date with a price file; "
                      "members without one are left out (mostly acquired or delisted: the survivorship that remains), "
                      "and membership changes within a cycle are not followed.", highlight=False, soft_wrap=True)
    if source == "synthetic":
        console.print("[yellow]synthetic data: per-stock parameters persist across periods by construction, which favours score persistence.[/yellow]")
    if not no_store:
        console.print(f"scores stored with run id {run_id} in {display(store_target(settings))}; see `adaptrade universe scores`")
    if out is not None:
        import pandas as pd

        out.mkdir(parents=True, exist_ok=True)
        tab.to_csv(out / "cycles.csv", index=False)
        pd.concat([r.selection.assign(cycle=r.cycle) for r in reps]).to_csv(out / "selection.csv", index=False)
        from adaptrade.reports.research_html import cycle_report

        cycle_report(tab, out / "report.html", verdict(tab))
        console.print(f"wrote {out}/cycles.csv, {out}/selection.csv, {out}/report.html")
