"""`adaptrade analytics returns|attribution|tax|drawdowns RUN`: analytics of a stored run (DuckDB SQL
over its tables; docs/analytics.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from adaptrade.commands.common import console, handle_errors

app = typer.Typer(no_args_is_help=True, help="Returns, attribution, tax lots and drawdowns of a stored run.")
DB_HELP = "Store: a DuckDB file or postgresql://USER@HOST:PORT/DB (default ./adaptrade.duckdb, or ADAPTRADE_DB_URL)."
FORMATS = ("table", "csv", "json")
ROWS = 30  # rows of each table printed in table format


def _run(kind: str, run_id: str, db: str | None, out: Path | None, fmt: str, method: str = "fifo", worst: int = 5) -> None:
    from rich.markup import escape
    from rich.table import Table

    from adaptrade.analytics import data, run
    from adaptrade.errors import ConfigError
    from adaptrade.settings import load_settings
    from adaptrade.storage.backend import store_target

    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}' ({'|'.join(FORMATS)})", field="format")
    from adaptrade.analytics.tax import METHODS

    if method not in METHODS:
        raise ConfigError(f"unknown lot method '{method}' ({'|'.join(METHODS)})", field="method")
    s = load_settings()
    rd = data.load(store_target(s, db), run_id, s.store_lock_timeout)
    tabs = run.tables(rd, kind, method=method, rates=(s.tax_short_rate, s.tax_long_rate), worst=worst)
    if out is not None:
        paths = run.write(tabs, out, "json" if fmt == "json" else "csv")
        console.print(f"wrote {out}/ (" + ", ".join(p.name for p in paths) + ")", highlight=False)
        return
    for name, df in tabs.items():
        if fmt == "csv":
            console.print(f"# {name}", highlight=False)
            console.out(df.to_csv(index=False), end="")
        elif fmt == "json":
            console.out(json.dumps({name: json.loads(df.to_json(orient="records", date_format="iso"))}, default=str))
        else:
            t = Table(title=f"{name} ({len(df):,} rows" + (f", first {ROWS}" if len(df) > ROWS else "") + ")", title_justify="left")
            for c in df.columns:
                t.add_column(str(c), justify="right" if df[c].dtype.kind in "fi" else "left")
            for r in df.head(ROWS).itertuples(index=False):
                t.add_row(*[escape(f"{v:.6g}" if isinstance(v, float) else ("" if v is None else str(v))) for v in r])
            console.print(t)
    if kind == "tax":
        console.print("US rules as documented in docs/analytics.md, rates from settings (tax_short_rate, tax_long_rate); "
                      "an illustration, not tax advice.", highlight=False)


def _command(kind: str, doc: str) -> None:
    if kind == "tax":
        def cmd(run_id: str = typer.Argument(..., help="Run id (adaptrade runs list)."),
                db: str | None = typer.Option(None, "--db", help=DB_HELP),
                out: Path | None = typer.Option(None, "--out", help="Write the tables here (tax_lots.csv, tax_summary.csv, ...)."),
                fmt: str = typer.Option("table", "--format", help="table | csv | json"),
                method: str = typer.Option("fifo", "--method", help="Lot method: fifo | lifo | hifo | mintax.")) -> None:
            _run(kind, run_id, db, out, fmt, method=method)
    elif kind == "drawdowns":
        def cmd(run_id: str = typer.Argument(..., help="Run id (adaptrade runs list)."),  # type: ignore[misc]
                db: str | None = typer.Option(None, "--db", help=DB_HELP),
                out: Path | None = typer.Option(None, "--out", help="Write the tables here."),
                fmt: str = typer.Option("table", "--format", help="table | csv | json"),
                worst: int = typer.Option(5, "--worst", help="How many of the deepest episodes to list.")) -> None:
            _run(kind, run_id, db, out, fmt, worst=worst)
    else:
        def cmd(run_id: str = typer.Argument(..., help="Run id (adaptrade runs list)."),  # type: ignore[misc]
                db: str | None = typer.Option(None, "--db", help=DB_HELP),
                out: Path | None = typer.Option(None, "--out", help="Write the tables here."),
                fmt: str = typer.Option("table", "--format", help="table | csv | json")) -> None:
            _run(kind, run_id, db, out, fmt)
    cmd.__doc__ = doc
    app.command(kind)(handle_errors(cmd))


_command("returns", "Daily, monthly and yearly returns; rolling 63/252-day volatility and Sharpe; per stock and for the account.")
_command("attribution", "Each stock's and sector's contribution to the account return; market exposure vs timing per stock.")
_command("tax", "Tax lots (FIFO/LIFO/HIFO/min-tax), short/long term, wash sales, yearly summary, after-tax return per method.")
_command("drawdowns", "Every drawdown episode (peak, trough, recovery, depth, length, time to recover), the worst N, the underwater curve.")
