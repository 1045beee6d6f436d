"""The `adaptrade` command line: one typer app assembled from the command modules.

Commands are thin: they parse flags and call the layers. Expected errors (`AdaptradeError`)
print one line naming file/row/field and exit non-zero; only bugs show a traceback. Heavy
imports happen inside the commands so `adaptrade --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from adaptrade.commands import backtest, cycle, data, paper, research, runs, universe
from adaptrade.commands.common import err_console
from adaptrade.errors import AdaptradeError

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="Backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe.",
)
app.command("backtest")(backtest.backtest)
app.command("cycle")(cycle.cycle)
app.command("demo")(backtest.demo)
app.command("sweep")(research.sweep)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(paper.app, name="paper")
app.add_typer(universe.app, name="universe")
app.add_typer(research.experiment_app, name="experiment")


def main() -> None:
    """Console entry point: run the app, turning expected errors into one clear line."""
    try:
        app()
    except AdaptradeError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.describe()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
