"""What every command shares: the consoles and the one-line rendering of expected errors."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from adaptrade.errors import AdaptradeError

# Piped or redirected output is not cut: tables get the width their values need (no terminal to fit).
PIPE_WIDTH = 100_000
console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else PIPE_WIDTH)

F = TypeVar("F", bound=Callable[..., Any])


def fail(exc: AdaptradeError) -> typer.Exit:
    """Print an expected error in one line (file, row, field); the Exit to raise."""
    err_console.print(f"[bold red]error:[/bold red] {escape(exc.describe())}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def handle_errors(fn: F) -> F:
    """Decorate a command so an AdaptradeError ends it with one line and its exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdaptradeError as exc:
            raise fail(exc) from None

    return wrapper  # type: ignore[return-value]


def check_out(out: Path | None, flag: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be created or written.

    Walks up to the first existing ancestor and creates (then removes) a hidden probe folder
    there, so a path under a file, a read-only folder or /proc fail now, not after the run.
    """
    import shutil
    import tempfile

    from adaptrade.errors import ConfigError

    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} exists and is not a folder", file=out, field=flag.lstrip("-"))
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{flag} {out} cannot be created: {probe} is a file, not a folder", file=out, field=flag.lstrip("-"))
    try:
        shutil.rmtree(tempfile.mkdtemp(prefix=".adaptrade-probe.", dir=probe))
    except OSError as exc:
        raise ConfigError(f"{flag} {out} cannot be written ({probe}: {exc.strerror or exc})", file=out,
                          field=flag.lstrip("-")) from None


def check_top(top: int, flag: str = "--top") -> int:
    """--top N: the rows to print, at least 1."""
    from adaptrade.errors import ConfigError

    if top < 1:
        raise ConfigError(f"{flag} must be at least 1 (got {top})", field=flag.lstrip("-"))
    return top


def check_symbols(symbols: str | None, flag: str = "--symbols") -> str | None:
    """--symbols A,B: None when absent; an empty list (`--symbols ""`) is an error, not 'all'."""
    from adaptrade.errors import ConfigError

    if symbols is None:
        return None
    if not [s for s in symbols.split(",") if s.strip()]:
        raise ConfigError(f"{flag} is empty: give comma-separated symbols, e.g. AAPL,MSFT (or leave the flag out)",
                          field=flag.lstrip("-"))
    return symbols


def progress(description: str, total: int | None) -> Any:
    """A rich progress bar on stderr for long work; disabled (prints nothing) when stderr is not a terminal.

    Use as `with progress("backtesting stocks", n) as (bar, task): bar.update(task, completed=k)`.
    """
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextlib.contextmanager
    def _bar() -> Any:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
            yield bar, bar.add_task(description, total=total)

    return _bar()
