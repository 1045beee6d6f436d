"""`adaptrade universe scores|list`: quality scores and selections with the liquidity filter."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adaptrade.commands.common import console, fail
from adaptrade.errors import AdaptradeError

app = typer.Typer(no_args_is_help=True, help="The NASDAQ universe: selections, liquidity filter, quality scores.")


@app.command("scores")
def universe_scores(
    db: Optional[str] = typer.Option(None, "--db", help="Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
    top: int = typer.Option(30, "--top", help="Rows to print (best first)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="Print this stock's score history instead."),
) -> None:
    """Print the latest quality score of every stock (written by `adaptrade cycle`)."""
    from rich.table import Table

    from adaptrade.settings import load_settings
    from adaptrade.storage.scores import ScoreStore

    from adaptrade.storage.backend import display, store_target

    path = display(store_target(load_settings(), db))
    try:
        with ScoreStore(store_target(load_settings(), db), read_only=True) as ss:
            df = ss.history(symbol.upper()) if symbol else ss.latest().head(top)
    except AdaptradeError as exc:
        raise fail(exc) from None
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


@app.command("list")
def universe_list(
    universe: str = typer.Option("nasdaq100", "--universe", help="nasdaq100 | extended | nasdaq100-pit (the members on --start)"),
    sector: Optional[str] = typer.Option(None, "--sector", help='GICS sector, e.g. "Information Technology".'),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Explicit comma-separated list instead."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data root (default: ADAPTRADE_DATA_DIR)."),
    start: Optional[str] = typer.Option(None, "--start", help="Apply the liquidity filter as of this backtest start (nasdaq100-pit: also the as-of date)."),
    min_volume: Optional[float] = typer.Option(None, "--min-volume", help="Minimum average daily volume in shares (default 1,000,000; split-adjusted volumes, see docs/universe.md)."),
    min_dollar_volume: Optional[float] = typer.Option(None, "--min-dollar-volume", help="Filter on average close x volume (dollars) instead; splits do not change it."),
    window: Optional[int] = typer.Option(None, "--window", help="Sessions before --start to average (default 20)."),
) -> None:
    """Print a selection and, with --start, which stocks the liquidity filter drops and why."""
    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings
    from adaptrade.universe.liquidity import liquidity_filter
    from adaptrade.universe.universe import PIT, NasdaqUniverse

    try:
        from adaptrade.universe.liquidity import check_thresholds

        check_thresholds(min_volume, min_dollar_volume)
        if min_dollar_volume is not None and not start:
            raise ConfigError("--min-dollar-volume needs --start (the filter averages the sessions before it)", field="start")
        settings = load_settings()
        root = Path(data_dir) if data_dir is not None else Path(settings.data_dir)
        explicit = [s for s in (symbols or "").split(",") if s.strip()] or None
        pit = universe == PIT and not explicit
        if pit and not start:
            raise ConfigError(f"--universe {PIT} needs --start: the members on that date are listed", field="start")
        u = NasdaqUniverse(root)
        chosen = u.select(universe, sector, explicit, with_data=pit, as_of=start if pit else None)
        if pit:
            for note in u.point_in_time(str(start)).notes():  # start checked above
                console.print(f"note: {note}", highlight=False, soft_wrap=True)
        console.print(f"{len(chosen)} symbols: {', '.join(chosen)}", highlight=False, soft_wrap=True)
        if start:
            rep = liquidity_filter(root, chosen, start, window=window or settings.liquidity_window,
                                   min_volume=settings.min_volume if min_volume is None else min_volume,
                                   cache_dir=settings.cache_dir, policy=settings.repair_policy, min_dollar_volume=min_dollar_volume)
            console.print(f"liquidity ({rep.measure}): {len(rep.kept)} kept, {len(rep.dropped)} dropped", highlight=False)
            for line in rep.lines():
                console.print(f"  dropped {line}", highlight=False)
            if rep.split_caveat:
                console.print(f"note: {rep.split_caveat}", highlight=False, soft_wrap=True)
    except AdaptradeError as exc:
        raise fail(exc) from None
