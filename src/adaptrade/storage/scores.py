"""Quality-score history in DuckDB: one row per (run, cycle, symbol), never overwritten, so the
latest score of a stock and how it got there can both be read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage.duck import first_line, transaction

TABLE = "quality_scores"
COLUMNS = ["run_id", "cycle", "scored_at", "period_start", "period_end", "symbol", "score", "sharpe", "win_rate",
           "trades", "total_return", "outperformance", "formula"]
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR NOT NULL, cycle INTEGER NOT NULL, scored_at VARCHAR NOT NULL,
    period_start VARCHAR, period_end VARCHAR, symbol VARCHAR NOT NULL, score DOUBLE NOT NULL,
    sharpe DOUBLE, win_rate DOUBLE, trades DOUBLE, total_return DOUBLE, outperformance DOUBLE, formula VARCHAR,
    PRIMARY KEY (run_id, cycle, symbol))"""
_LATEST = f"""SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY scored_at DESC, run_id DESC, cycle DESC) AS rn
    FROM {TABLE}) WHERE rn = 1 ORDER BY score DESC, symbol"""


class ScoreStore:
    """The quality_scores table of a DuckDB file (the run store's file by default)."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError("no score store here yet (run `adaptrade cycle` first)", file=self.path)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                self._con.execute(_DDL)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the score store: {first_line(exc)}", file=self.path) from None

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (releases the file lock)."""
        self._con.close()

    def save(self, scores: pd.DataFrame, run_id: str, cycle: int, period: tuple[str, str] | None = None,
             formula: str = "") -> int:
        """Append one cycle's scores atomically; returns the number of rows written."""
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        df = pd.DataFrame({
            "run_id": run_id, "cycle": int(cycle), "scored_at": now,
            "period_start": period[0] if period else None, "period_end": period[1] if period else None,
            "symbol": scores["symbol"].astype(str), "score": scores["score"].astype(float),
            **{c: scores[c].astype(float) for c in ("sharpe", "win_rate", "trades", "total_return", "outperformance")},
            "formula": formula,
        })[COLUMNS]
        with transaction(self._con, "cannot save scores", self.path):
            self._con.register("_scores_in", df)
            self._con.execute(f"INSERT INTO {TABLE} SELECT * FROM _scores_in")
            self._con.unregister("_scores_in")
        return len(df)

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        import duckdb

        try:
            if not self._con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]).fetchone()[0]:  # type: ignore[index]
                return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
            return self._con.execute(sql, params or []).df()
        except duckdb.Error as exc:
            raise StoreError(f"cannot read scores: {first_line(exc)}", file=self.path) from None

    def latest(self) -> pd.DataFrame:
        """Each symbol's most recent score, best first."""
        return self._df(_LATEST).reset_index(drop=True)

    def history(self, symbol: str | None = None) -> pd.DataFrame:
        """Every stored score (of one symbol), oldest first."""
        where, params = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
        return self._df(f"SELECT * FROM {TABLE} {where} ORDER BY scored_at, run_id, cycle, symbol", params)
