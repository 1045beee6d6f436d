"""`adaptrade data check`: validate a folder of OHLCV files and print the quality report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from adaptrade.commands.common import console, fail
from adaptrade.errors import AdaptradeError

app = typer.Typer(no_args_is_help=True, help="Inspect and validate market data.")


@app.command("check")
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
        raise fail(exc) from None
    report.render(console)
    console.print(f"[green]OK[/green]: all {len(report.symbols)} files in {escape(str(directory))} are usable "
                  f"under policy '{chosen}'.", highlight=False)
