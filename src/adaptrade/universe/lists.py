"""Constituent lists shipped with the package (the NASDAQ-100 snapshot with sectors, its membership history)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from adaptrade.errors import ConfigError

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


@lru_cache(maxsize=1)
def nasdaq100() -> pd.DataFrame:
    """The NASDAQ-100 constituents (2025-08-03 snapshot): symbol, name, sector, sub_industry."""
    return pd.read_csv(RESOURCES / "nasdaq100.csv", dtype=str)


@lru_cache(maxsize=1)
def nasdaq100_membership() -> pd.DataFrame:
    """NASDAQ-100 membership history (symbol, name, added_date, removed_date; 2007-02-01 .. 2025-11-06)."""
    return pd.read_csv(RESOURCES / "nasdaq100_membership.csv", dtype=str)


def universe_symbols(name: str) -> list[str]:
    """Symbols of a named universe, in list order."""
    if name == "nasdaq100":
        return nasdaq100()["symbol"].tolist()
    raise ConfigError(f"unknown universe '{name}' (known universes: nasdaq100, extended, nasdaq100-pit)", field="universe")
