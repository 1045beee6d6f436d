"""`adaptrade universe scores|list`: quality scores and selections with the liquidity filter."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adaptrade.commands.common import check_symbols, check_top, console, err_console, fail
from adaptrade.commands.listing import check_format, emit, format_option
from adaptrade.errors import AdaptradeError

app = typer.Typer(no_args_is_help=True, help="The NASDAQ universe: selections, liquidity filter, quality scores.")


@app.command("scores")
def universe_scores(
    db: Optional[str] = typer.Option(None, "--db", help="Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."),
    top: int = typer.Option(30, "--top", help="Rows to print (best first)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="Print this stock's score history instead."),
    source: Optional[str] = typer.Option(None, "--source", help="Only scores computed on this data: synthetic | archive (default: both, each its own row)."),
    fmt: str = format_option(),
) -> None:
    """Print the latest quality score of every stock per data source (written by `adaptrade cycle`)."""
    from rich.table import Table

    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings
    from adaptrade.storage.scores import ScoreStore

    try:
        check_format(fmt)
        check_top(top)
        if source is not None and source not in ("synthetic", "archive"):
            raise ConfigError(f"unknown source '{source}' (synthetic|archive)", field="source")
        from adaptrade.storage.backend import display, store_target

        path = display(store_target(load_settings(), db))
        with ScoreStore(store_target(load_settings(), db), read_only=True) as ss:
            df = ss.history(symbol.upper(), source) if symbol else ss.latest(source).head(top)
    except AdaptradeError as exc:
        raise fail(exc) from None
    cols = ["source", "symbol", "score", "sharpe", "win_rate", "trades", "outperformance", "cycle", "period_start", "period_end", "run_id"]
    if fmt != "table":
        emit(console, df[cols], fmt, lambda: None)
        return
    if df.empty:
        console.print(f"no scores stored in {path}" + (f" for {symbol.upper()}" if symbol else "") + (f" from {source} data" if source else ""))
        return
    t = Table(title=(f"score history of {symbol.upper()}" if symbol else f"latest quality scores per source ({len(df)} shown)") + f" in {path}", title_justify="left")
    for c in cols:
        t.add_column(c, justify="left" if c in ("source", "symbol", "run_id") else "right")
    for r in df[cols].itertuples(index=False):
        t.add_row(str(r.source) if r.source else "(unknown)", r.symbol, f"{r.score:.3f}", f"{r.sharpe:.2f}", f"{r.win_rate * 100:.0f}%" if r.win_rate == r.win_rate else "—",
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
    fmt: str = format_option(),
) -> None:
    """Print a selection and, with --start, which stocks the liquidity filter drops and why."""
    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings
    from adaptrade.universe.liquidity import liquidity_filter
    from adaptrade.universe.universe import PIT, NasdaqUniverse

    try:
        from adaptrade.universe.liquidity import check_thresholds

        check_format(fmt)
        symbols = check_symbols(symbols)
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
        notes_to = console if fmt == "table" else err_console  # csv/json stdout stays machine-readable
        if pit:
            for note in u.point_in_time(str(start)).notes():  # start checked above
                notes_to.print(f"note: {note}", highlight=False, soft_wrap=True)
        names = u.nasdaq100().set_index("symbol")
        import pandas as pd

        df = pd.DataFrame({"symbol": chosen, "name": [names["name"].get(s, "") for s in chosen],
                           "sector": [names["sector"].get(s, "") for s in chosen]})
        title = f"{universe if not explicit else 'explicit list'}{f' / {sector}' if sector else ''}: {len(chosen)} symbols"
        rep = None
        if start:
            rep = liquidity_filter(root, chosen, start, window=window or settings.liquidity_window,
                                   min_volume=settings.min_volume if min_volume is None else min_volume,
                                   cache_dir=settings.cache_dir, policy=settings.repair_policy, min_dollar_volume=min_dollar_volume)
            df = df.merge(rep.table[["symbol", "adv", "adv_dollars", "sessions", "last_date", "kept", "reason"]], on="symbol", how="left")
            title += f"; liquidity ({rep.measure}): {len(rep.kept)} kept, {len(rep.dropped)} dropped"
    except AdaptradeError as exc:
        raise fail(exc) from None
    emit(console, df, fmt, lambda: _list_table(df, title))
    if rep is not None and fmt == "table":
        for line in rep.lines():
            console.print(f"  dropped {line}", highlight=False)
    if rep is not None and rep.split_caveat:
        (console if fmt == "table" else err_console).print(f"note: {rep.split_caveat}", highlight=False, soft_wrap=True)


def _list_table(df: "pd.DataFrame", title: str) -> "Table":  # noqa: F821
    """The selection as a rich table (liquidity columns when the filter ran)."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title), title_justify="left")
    for c in df.columns:
        t.add_column(c, justify="right" if c in ("adv", "adv_dollars", "sessions") else "left")
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, r):
            if c == "adv":
                cells.append("—" if v != v else f"{v:,.0f}")
            elif c == "adv_dollars":
                cells.append("—" if v != v else f"${v:,.0f}")
            elif c == "kept":
                cells.append("yes" if v is True else "DROPPED" if v is False else "")
            else:
                cells.append(escape("" if v is None or v != v else str(v)))
        t.add_row(*cells)
    return t
