"""The NASDAQ universe: NASDAQ-100 constituents with sectors, an extended universe of every symbol
the shared data knows about, and the point-in-time NASDAQ-100 (members on a date, from the
membership history); selections by name, sector or explicit list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from adaptrade.errors import ConfigError, DataError
from adaptrade.universe.lists import nasdaq100, nasdaq100_membership

UNIVERSES = ("nasdaq100", "extended", "nasdaq100-pit")
COLUMNS = ["symbol", "name", "sector", "source"]
PIT = "nasdaq100-pit"
PIT_START = pd.Timestamp("2007-02-01")  # the membership table starts here (empty added_date = member before)
# Membership tickers later reused by another company: a file under that name is the wrong security
# (the shared data leaves them out on purpose; see its README), so they count as "no price file".
REUSED_TICKERS = frozenset({"ALTR", "DELL", "LIFE", "GOLD"})


@dataclass(frozen=True)
class PointInTime:
    """The NASDAQ-100 on one date: members, the ones with a price file, the ones without."""

    date: str
    members: list[str]
    with_data: list[str]
    without_data: list[str]
    second_stint: list[str]  # members by a re-addition whose later removal the table does not record
    late_data: list[str] = field(default_factory=list)  # price file starts after the date: a later listing under the ticker

    def notes(self) -> list[str]:
        """Run notes: how many members, which have no price file, and what is excluded."""
        out = [f"point-in-time NASDAQ-100 on {self.date}: {len(self.members)} members, {len(self.with_data)} run, "
               f"{len(self.without_data)} without a price file (left out: the survivorship that remains)"
               + (f": {', '.join(self.without_data)}" if self.without_data else ""),
               f"later joiners are excluded: only members on {self.date} are run, whatever joined afterwards is not"]
        if self.late_data:
            out.append(f"{len(self.late_data)} member{'s' if len(self.late_data) != 1 else ''} left out because their price file starts after {self.date} (a later "
                       f"listing under that ticker: rename or reused ticker): {', '.join(self.late_data)}")
        if self.second_stint:
            out.append(f"re-added members whose second removal is not in the table (taken as still members): {', '.join(self.second_stint)}")
        return out


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

    def _read_list(self, name: str, shipped: Callable[[], pd.DataFrame], required: set[str], what: str) -> pd.DataFrame:
        """A universe CSV: the data root's copy if present, else the shipped one; columns checked, symbols upper-cased."""
        path = self._csv(name)
        try:
            df = pd.read_csv(path, dtype=str) if path is not None else shipped().copy()
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the {what}: {exc}", file=path) from None
        missing = required - set(df.columns)
        if missing:
            raise DataError(f"{what} lacks columns {sorted(missing)}", file=path)
        df["symbol"] = df["symbol"].str.strip().str.upper()
        return df

    def nasdaq100(self) -> pd.DataFrame:
        """symbol, name, sector of the NASDAQ-100 (shared list if present, else the shipped copy)."""
        df = self._read_list("nasdaq100.csv", nasdaq100, {"symbol", "name", "sector"}, "constituents list")
        df = df[["symbol", "name", "sector"]].fillna("")
        df["source"] = "nasdaq100"
        return df.drop_duplicates("symbol").reset_index(drop=True)[COLUMNS]

    def membership(self) -> pd.DataFrame:
        """symbol, name, added_date, removed_date (Timestamps, NaT when empty): the shared table if present, else the shipped copy."""
        path = self._csv("nasdaq100_membership.csv")
        df = self._read_list("nasdaq100_membership.csv", nasdaq100_membership, {"symbol", "added_date", "removed_date"}, "membership history")
        df["name"] = df.get("name", pd.Series([""] * len(df))).fillna("")
        try:
            for c in ("added_date", "removed_date"):
                df[c] = pd.to_datetime(df[c], format="%Y-%m-%d")
        except ValueError as exc:
            raise DataError(f"membership history has a bad date: {exc}", file=path) from None
        return df[["symbol", "name", "added_date", "removed_date"]].reset_index(drop=True)

    def members_at(self, date: str | pd.Timestamp) -> list[str]:
        """NASDAQ-100 members on `date` (sorted), from the membership history.

        A row is a member from added_date (empty: before 2007-02-01) until the day before removed_date
        (empty: still a member). A row with added_date > removed_date is a symbol with two stints: a
        member before removed_date and again from added_date on (the table keeps one row per symbol,
        so a later second removal is not recorded). Dates before 2007-02-01 raise ConfigError.
        """
        day = _as_of(date)
        m = self.membership()
        added, removed = m["added_date"], m["removed_date"]
        after_add = added.isna() | (added <= day)
        before_removal = removed.isna() | (day < removed)
        two_stints = added.notna() & removed.notna() & (added > removed)
        member = (after_add & before_removal & ~two_stints) | (two_stints & ((day < removed) | (day >= added)))
        return sorted(m.loc[member, "symbol"].unique().tolist())

    def point_in_time(self, date: str | pd.Timestamp) -> PointInTime:
        """Members on `date`, split into those with a price file under the data root and those without."""
        day = _as_of(date)
        members = self.members_at(day)
        files = self._files()
        have = [s for s in members if s in files and s not in REUSED_TICKERS]
        late = [s for s in have if (first := _first_date(files[s])) is not None and first > day]
        m = self.membership()
        two = m[m["added_date"].notna() & m["removed_date"].notna() & (m["added_date"] > m["removed_date"]) & (m["added_date"] <= day)]
        return PointInTime(date=day.date().isoformat(), members=members,
                           with_data=[s for s in have if s not in late], without_data=[s for s in members if s not in have],
                           second_stint=sorted(set(two["symbol"]) & set(members)), late_data=late)

    def _files(self) -> dict[str, Path]:
        if self.data_dir is None or not self.data_dir.exists():
            return {}
        from adaptrade.data.archive import available_symbols

        return available_symbols(self.data_dir)

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

    def table(self, name: str, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
        """A named universe as a table (symbol, name, sector, source); nasdaq100-pit needs `as_of`."""
        if name == "nasdaq100":
            return self.nasdaq100()
        if name == "extended":
            return self.extended()
        if name == PIT:
            if as_of is None:
                raise ConfigError(f"--universe {PIT} needs an as-of date: give --start (members on that date are used)", field="start")
            m = self.membership().set_index("symbol")
            sectors = self.nasdaq100().set_index("symbol")["sector"]
            members = self.members_at(as_of)
            return pd.DataFrame({"symbol": members, "name": [m.at[s, "name"] for s in members],
                                 "sector": [sectors.get(s, "") for s in members], "source": PIT})[COLUMNS]
        raise ConfigError(f"unknown universe '{name}' ({'|'.join(UNIVERSES)})", field="universe")

    def sectors(self) -> list[str]:
        """The sector names of the NASDAQ-100 list."""
        return sorted(s for s in self.nasdaq100()["sector"].unique() if s)

    def select(self, name: str | None = "nasdaq100", sector: str | None = None, symbols: Sequence[str] | None = None,
               with_data: bool = False, as_of: str | pd.Timestamp | None = None) -> list[str]:
        """Symbols by explicit list, else by universe name, optionally one sector and only those with data.

        `nasdaq100-pit` is the NASDAQ-100 on `as_of` (required); with a sector, past members (which
        have no sector) are not selected."""
        if symbols:
            chosen = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
            if sector:
                raise ConfigError("give either --symbols or --sector, not both", field="sector")
        else:
            if name == PIT and with_data and as_of is not None:  # members on the date that have a price file covering it
                t = self.table(PIT, as_of)
                pit = self.point_in_time(as_of)
                if not pit.with_data:
                    raise ConfigError(f"no NASDAQ-100 member on {pit.date} can be run: {len(pit.members)} members, "
                                      f"{len(pit.without_data)} without a price file, {len(pit.late_data)} whose file starts later", field="start")
                t = t[t["symbol"].isin(pit.with_data)]
            else:
                t = self.table(name or "nasdaq100", as_of)
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


def _as_of(date: str | pd.Timestamp) -> pd.Timestamp:
    """A point-in-time date, checked: a date, and not before the membership table starts."""
    try:
        day = pd.Timestamp(date)
    except (ValueError, TypeError):
        raise ConfigError(f"'{date}' is not a date (YYYY-MM-DD)", field="start") from None
    if pd.isna(day):
        raise ConfigError(f"'{date}' is not a date (YYYY-MM-DD)", field="start")
    day = day.normalize()
    if day < PIT_START:
        raise ConfigError(f"the NASDAQ-100 membership history starts on {PIT_START.date()}; members on {day.date()} are "
                          "unknown (give a --start on or after it)", field="start")
    return day


def _first_date(path: Path) -> pd.Timestamp | None:
    """Date of the first row of a price file (None when it cannot be told; files are in date order)."""
    try:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            col = pq.read_table(path, columns=["date"]).column("date")
            return pd.Timestamp(col[0].as_py()).normalize() if len(col) else None
        from adaptrade.data.archive import _open_text

        with _open_text(path) as f:
            header = f.readline().strip().lower().split(",")
            row = f.readline().strip().split(",")
        i = header.index("date") if "date" in header else 0
        return pd.Timestamp(row[i]).normalize() if len(row) > i and row[i] else None
    except (OSError, ValueError, KeyError, ImportError):
        return None
