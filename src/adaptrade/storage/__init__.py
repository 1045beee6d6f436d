"""Persistence: runs, quality scores and sweep trials in a DuckDB file or PostgreSQL, one schema."""

from typing import Any

__all__ = ["RunStore"]


def __getattr__(name: str) -> Any:
    """RunStore on first use (keeps `import adaptrade.storage.x` light for the CLI)."""
    if name == "RunStore":
        from adaptrade.storage.runs import RunStore

        return RunStore
    raise AttributeError(name)
