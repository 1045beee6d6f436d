"""Every sweep trial in the store (tables `sweeps`, `sweep_trials`; DuckDB or PostgreSQL), so a DSR can count all trials ever tried.

Trials are keyed by the data they ran on (`data_key`: source, symbol list, first and last date,
and the synthetic seed or the archive's price basis). Costs and fill are not part of the data:
they are settings of each trial (its `commission_bps`, `slippage_bps`, `fill` columns) and part of
its effective configuration (`config_key`), so a sweep rerun with other costs on the same data
counts as more configurations tried on that data. `history_configs(data_key)` returns the excess
Sharpe ratio of every distinct configuration stored for the same data: trying again on the same
data is more trials, and the deflation must grow with it; rerunning the same configuration is not. Saving a sweep id again
replaces that sweep (idempotent).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.storage import frames, schema
from adaptrade.storage.backend import display


def data_key(source: str, symbols: tuple[str, ...], start: str, end: str, extra: str = "") -> str:
    """A short stable key for 'the same data': source, symbol list, dates (and anything else that matters)."""
    h = hashlib.blake2b(f"{source}|{','.join(symbols)}|{start}|{end}|{extra}".encode(), digest_size=8).hexdigest()
    return f"{source}:{start}..{end}:{len(symbols)}:{h}"


class TrialStore:
    """The sweeps and their trials of one store (a DuckDB path or a postgresql:// URL); a context manager."""

    def __init__(self, target: str | Path, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        """Open the store (read-write: apply pending migrations)."""
        self.target = str(target)
        self.path = display(self.target)
        self._b = schema.open_store(self.target, read_only, lock_timeout, "trial store")

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection (releases a DuckDB file lock)."""
        self._b.close()

    def _has_trials(self) -> bool:
        return "sweep_trials" in self._b.tables()

    def history_configs(self, key: str) -> dict[str, float]:
        """Excess Sharpe ratio (NaN when failed) per distinct configuration stored for the same data.

        Configurations are told apart by `config_key`; trials stored before that column existed
        count one each (keyed by sweep and trial), as they did then.
        """
        if not self._has_trials():
            return {}
        rows = self._b.fetchall("SELECT config_key, excess_sharpe, sweep_id, trial FROM sweep_trials WHERE data_key = ? "
                                "ORDER BY sweep_id, trial", [key])
        out: dict[str, float] = {}
        for cfg, sr, sid, trial in rows:
            out.setdefault(cfg if cfg is not None else f"{sid}#{trial}", float("nan") if sr is None else float(sr))
        return out

    def history_sharpes(self, key: str) -> list[float]:
        """Excess Sharpe ratios (NaN for failed ones) of the distinct configurations stored for the same data."""
        return list(self.history_configs(key).values())

    def save(self, key: str, settings: dict[str, Any], summary: dict[str, Any], trials: pd.DataFrame,
             sweep_id: str | None = None) -> str:
        """Store one sweep and all its trials in one transaction (one bulk write); returns the sweep id.
        An existing `sweep_id` is replaced, so re-running a sweep under its id adds no rows."""
        sid = sweep_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        frame = trials.copy()
        frame["error"] = frame["error"].astype("string")
        frame.insert(0, "data_key", key)
        dtypes = frames.dtypes_of(frame)
        b = self._b
        with b.transaction("cannot save the sweep"):
            b.execute("DELETE FROM sweep_trials WHERE sweep_id = ?", [sid])
            b.execute("DELETE FROM sweeps WHERE sweep_id = ?", [sid])
            b.execute("INSERT INTO sweeps (sweep_id, created, data_key, settings, summary, dtypes) VALUES (?, ?, ?, ?, ?, ?)",
                      [sid, datetime.now(UTC).isoformat(), key, json.dumps(settings, default=str), json.dumps(summary, default=str),
                       json.dumps(dtypes)])
            frames.write(b, "sweep_trials", frame, schema.TRIALS, {"sweep_id": sid})
        return sid

    def trials(self, sweep_id: str) -> pd.DataFrame:
        """The stored trials of one sweep, in trial order (sweep_id, data_key, then the trial columns)."""
        if not self._has_trials():
            return pd.DataFrame()
        row = self._b.fetchall("SELECT dtypes FROM sweeps WHERE sweep_id = ?", [sweep_id])
        if not row or not row[0][0]:  # written before schema 3: every column is a real column
            return self._b.df("SELECT * EXCLUDE (_row, extra) FROM sweep_trials WHERE sweep_id = ? ORDER BY trial", [sweep_id]) \
                if self._b.kind == "duckdb" else self._b.df("SELECT * FROM sweep_trials WHERE sweep_id = ? ORDER BY trial", [sweep_id])
        df = frames.read(self._b, "sweep_trials", "sweep_id = ?", [sweep_id], json.loads(row[0][0]))
        df.insert(0, "sweep_id", sweep_id)
        return df
