"""`--format table|csv|json` for every listing: one frame, three renderings (csv/json are full values, never cut)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable

import typer

from adaptrade.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

FORMATS = ("table", "csv", "json")


def format_option() -> Any:
    """The shared --format option."""
    return typer.Option("table", "--format", help="table (default) | csv | json: csv/json print every row and full values.")


def check_format(fmt: str) -> str:
    """A known output format, else a one-line ConfigError."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}' ({'|'.join(FORMATS)})", field="format")
    return fmt


def _plain(v: Any) -> Any:
    """A JSON-ready cell: NaN -> null, numpy scalars -> Python, timestamps -> ISO text."""
    import math

    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def emit(console: Console, df: pd.DataFrame, fmt: str, table: Callable[[], Table | None]) -> None:
    """Print `df` as csv / json (to stdout, raw) or the rich table `table()` builds."""
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        rows = [{k: _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
        sys.stdout.write(json.dumps(rows, indent=1, default=str) + "\n")
    else:
        t = table()
        if t is not None:
            console.print(t)
    sys.stdout.flush()
