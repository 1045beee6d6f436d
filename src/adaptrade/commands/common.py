"""What every command shares: the consoles and the one-line rendering of expected errors."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from adaptrade.errors import AdaptradeError

console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

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
