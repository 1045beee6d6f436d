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

console = Console()
err_console = Console(stderr=True)


@data_app.command("check")
def data_check(
    directory: Path = typer.Argument(..., help="Folder of SYMBOL.csv / .csv.gz / .parquet files (or the shared data root)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Repair policy for recoverable defects: error|drop|ffill."),
) -> None:
    """Validate every file in DIR and print the data-quality report."""
    raise typer.Exit(_not_built("data check"))


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
