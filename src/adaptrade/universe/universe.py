"""The NASDAQ universe: NASDAQ-100 constituents with sectors, and an extended universe of every
symbol the shared data knows about; selections by name, sector or explicit list."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from adaptrade.errors import ConfigError, DataError
from adaptrade.universe.lists import nasdaq100

UNIVERSES = ("nasdaq100", "extended")
COLUMNS = ["symbol", "name", "sector", "source"]


class NasdaqUniverse:
    """Constituent lists and archive contents under one data root (the shared data folder)."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None

    def _csv(self, name: str) -> Path | None:
        if self.data_dir is None:
            return None
        for p in (self.data_dir / "universe" / name, self.data_dir / name):
            if p.is_file():
                return p
        return None

    def nasdaq100(self) -> pd.DataFrame:
        """symbol, name, sector of the NASDAQ-100 (shared list if present, else the shipped copy)."""
        path = self._csv("nasdaq100.csv")
        try:
            df = pd.read_csv(path, dtype=str) if path is not None else nasdaq100().copy()
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read constituents: {exc}", file=path) from None
        missing = {"symbol", "name", "sector"} - set(df.columns)
        if missing:
            raise DataError(f"constituents list lacks columns {sorted(missing)}", file=path)
        df = df[["symbol", "name", "sector"]].fillna("")
        df["symbol"] = df["symbol"].str.strip().str.upper()
        df["source"] = "nasdaq100"
        return df.drop_duplicates("symbol").reset_index(drop=True)[COLUMNS]

    def archive_symbols(self) -> list[str]:
        """Every symbol with a data file under the data root (empty without one)."""
        if self.data_dir is None or not self.data_dir.exists():
            return []
        from adaptrade.data.archive import available_symbols

        return sorted(available_symbols(self.data_dir))

    def extended(self) -> pd.DataFrame:
        """NASDAQ-100 + universe/extended.csv + every symbol with archive data (sector only where known)."""
        parts = [self.nasdaq100()]
        path = self._csv("extended.csv")
        if path is not None:
            ext = pd.read_csv(path, dtype=str)
            if "symbol" not in ext.columns:
                raise DataError("extended list has no 'symbol' column", file=path)
            parts.append(pd.DataFrame({"symbol": ext["symbol"].str.strip().str.upper(),
                                       "name": ext.get("name", pd.Series([""] * len(ext))).fillna(""),
                                       "sector": "", "source": "extended.csv"}))
        arch = self.archive_symbols()
        if arch:
            parts.append(pd.DataFrame({"symbol": arch, "name": "", "sector": "", "source": "archive"}))
        return pd.concat(parts, ignore_index=True).drop_duplicates("symbol").reset_index(drop=True)[COLUMNS]

    def table(self, name: str) -> pd.DataFrame:
        """A named universe as a table (symbol, name, sector, source)."""
        if name == "nasdaq100":
            return self.nasdaq100()
        if name == "extended":
            return self.extended()
        raise ConfigError(f"unknown universe '{name}' ({'|'.join(UNIVERSES)})", field="universe")

    def sectors(self) -> list[str]:
        """The sector names of the NASDAQ-100 list."""
        return sorted(s for s in self.nasdaq100()["sector"].unique() if s)

    def select(self, name: str | None = "nasdaq100", sector: str | None = None, symbols: Sequence[str] | None = None,
               with_data: bool = False) -> list[str]:
        """Symbols by explicit list, else by universe name, optionally one sector and only those with data."""
        if symbols:
            chosen = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
            if sector:
                raise ConfigError("give either --symbols or --sector, not both", field="sector")
        else:
            t = self.table(name or "nasdaq100")
            if sector:
                known = self.sectors()
                match = [s for s in known if s.lower() == sector.strip().lower()]
                if not match:
                    raise ConfigError(f"unknown sector '{sector}' (known: {', '.join(known)})", field="sector")
                t = t[t["sector"] == match[0]]
            chosen = t["symbol"].tolist()
        if with_data:
            have = set(self.archive_symbols())
            chosen = [s for s in chosen if s in have]
        if not chosen:
            raise ConfigError("the selection is empty", field="universe")
        return chosen
