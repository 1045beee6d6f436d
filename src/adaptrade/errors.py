"""The error hierarchy: bad input is reported with file, row and field, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class AdaptradeError(Exception):
    """Base of every expected error; the CLI prints it in one line and exits non-zero."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line naming where the problem is: `file, line N, field 'x': message`."""
        where: list[str] = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"line {self.row}" if isinstance(self.row, int) else f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DataError(AdaptradeError):
    """A data file or series that cannot be trusted."""


class UnknownSymbolError(DataError):
    """A requested symbol has no data file."""


class ConfigError(AdaptradeError, ValueError):
    """Settings or command-line options that do not make sense (also a ValueError, for library callers)."""


class StoreError(AdaptradeError):
    """The run store (DuckDB / PostgreSQL) could not be read or written."""
