"""Every sweep trial in DuckDB (tables `sweeps`, `sweep_trials`), so a DSR can count all trials ever tried.

Trials are keyed by the data they ran on (`data_key`: source, symbol list, first and last date,
and the synthetic seed or the archive's price basis). Costs and fill are not part of the data:
they are settings of each trial (its `commission_bps`, `slippage_bps`, `fill` columns) and part of
its effective configuration (`config_key`), so a sweep rerun with other costs on the same data
counts as more configurations tried on that data. `history_configs(data_key)` returns the excess
Sharpe ratio of every distinct configuration stored for the same data: trying again on the same
data is more trials, and the deflation must grow with it; rerunning the same configuration is not.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage.duck import transaction

_DDL = (
    "CREATE TABLE IF NOT EXISTS sweeps (sweep_id VARCHAR PRIMARY KEY, created VARCHAR NOT NULL, data_key VARCHAR NOT NULL, "
    "settings JSON, summary JSON)",
)


def data_key(source: str, symbols: tuple[str, ...], start: str, end: str, extra: str = "") -> str:
    """A short stable key for 'the same data': source, symbol list, dates (and anything else that matters)."""
    h = hashlib.blake2b(f"{source}|{','.join(symbols)}|{start}|{end}|{extra}".encode(), digest_size=8).hexdigest()
    return f"{source}:{start}..{end}:{len(symbols)}:{h}"


class TrialStore:
    """A DuckDB file holding sweeps and their trials; a context manager."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (and, unless read-only, create) the tables in the DuckDB file at `path`."""
        import duckdb

        self.path = Path(path)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                for ddl in _DDL:
                    self._con.execute(ddl)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the trial store: {str(exc).splitlines()[0]}", file=self.path) from None

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection (releases the file lock)."""
        self._con.close()

    def _has_trials(self) -> bool:
        """Whether the sweep_trials table exists yet (it is created from the first sweep's columns)."""
        return bool(self._con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'sweep_trials'").fetchone()[0])  # type: ignore[index]

    def _trial_columns(self) -> list[str]:
        """The columns of sweep_trials (empty before the first sweep)."""
        rows = self._con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'sweep_trials'").fetchall()
        return [r[0] for r in rows]

    def history_configs(self, key: str) -> dict[str, float]:
        """Excess Sharpe ratio (NaN when failed) per distinct configuration stored for the same data.

        Configurations are told apart by `config_key`; trials stored before that column existed
        count one each (keyed by sweep and trial), as they did then.
        """
        if not self._has_trials():
            return {}
        ck = "config_key" if "config_key" in self._trial_columns() else "NULL"
        rows = self._con.execute(f"SELECT {ck}, excess_sharpe, sweep_id, trial FROM sweep_trials WHERE data_key = ? "
                                 "ORDER BY sweep_id, trial", [key]).fetchall()
        out: dict[str, float] = {}
        for cfg, sr, sid, trial in rows:
            out.setdefault(cfg if cfg is not None else f"{sid}#{trial}", float("nan") if sr is None else float(sr))
        return out

    def history_sharpes(self, key: str) -> list[float]:
        """Excess Sharpe ratios (NaN for failed ones) of the distinct configurations stored for the same data."""
        return list(self.history_configs(key).values())

    def save(self, key: str, settings: dict[str, Any], summary: dict[str, Any], trials: pd.DataFrame) -> str:
        """Store one sweep and all its trials in one transaction; returns the sweep id."""
        sid = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        frame = trials.copy()
        frame.insert(0, "data_key", key)
        frame.insert(0, "sweep_id", sid)
        frame["error"] = frame["error"].astype("string")
        with transaction(self._con, "cannot save the sweep", self.path):
            self._con.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?)", [sid, datetime.now(UTC).isoformat(), key,
                                                                          json.dumps(settings, default=str), json.dumps(summary, default=str)])
            self._con.register("_trials", frame)
            if self._has_trials():
                have = set(self._trial_columns())
                for col in [c for c in frame.columns if c not in have]:  # a store written by an older version
                    typ = self._con.execute(f'SELECT typeof("{col}") FROM _trials LIMIT 1').fetchone()[0]  # type: ignore[index]
                    self._con.execute(f'ALTER TABLE sweep_trials ADD COLUMN "{col}" {typ}')
                self._con.execute("INSERT INTO sweep_trials BY NAME SELECT * FROM _trials")
            else:
                self._con.execute("CREATE TABLE sweep_trials AS SELECT * FROM _trials")
            self._con.unregister("_trials")
        return sid

    def trials(self, sweep_id: str) -> pd.DataFrame:
        """The stored trials of one sweep, in trial order."""
        if not self._has_trials():
            return pd.DataFrame()
        return self._con.execute("SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY trial", [sweep_id]).df()
