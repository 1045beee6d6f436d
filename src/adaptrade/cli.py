"""The `adaptrade` command line: one typer app assembled from the command modules.

Commands are thin: they parse flags and call the layers. Expected errors (`AdaptradeError`)
print one line naming file/row/field and exit non-zero; only bugs show a traceback. Heavy
imports happen inside the commands so `adaptrade --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from adaptrade.commands import analytics, backtest, cycle, data, db, paper, research, runs, serve, universe
from adaptrade.commands.common import err_console
from adaptrade.errors import AdaptradeError



def _flags_show_no_type() -> None:
    """typer >= 0.20 prints `<bool>` beside on/off flags in --help; a flag takes no value, so show none."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        return None if getattr(self, "is_bool_flag", False) else original(self, ctx)  # type: ignore[arg-type]

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="Backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe.",
)


def _version(value: bool) -> None:
    """--version: print the package version and stop."""
    if value:
        from adaptrade import __version__

        typer.echo(f"adaptrade {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe."""


app.command("backtest")(backtest.backtest)
app.command("cycle")(cycle.cycle)
app.command("demo")(backtest.demo)
app.command("sweep")(research.sweep)
app.command("serve")(serve.serve)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(db.app, name="db")
app.add_typer(analytics.app, name="analytics")
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
