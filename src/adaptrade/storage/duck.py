"""What every DuckDB store shares: one-line error text and an all-or-nothing transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adaptrade.errors import StoreError


def first_line(exc: BaseException) -> str:
    """The first line of a DuckDB error message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def transaction(con: Any, what: str, path: Path | str) -> Iterator[None]:
    """Run the block in one transaction: committed at its end, rolled back on any error, so a
    failure leaves nothing half-written; a DuckDB error becomes a StoreError naming the file."""
    import duckdb

    try:
        con.begin()
        try:
            yield
            con.commit()
        except BaseException:
            con.rollback()
            raise
    except duckdb.Error as exc:
        raise StoreError(f"{what}: {first_line(exc)}", file=path) from None
