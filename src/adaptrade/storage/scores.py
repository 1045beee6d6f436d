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
           "trades", "total_return", "outperformance", "formula", "source"]
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR NOT NULL, cycle INTEGER NOT NULL, scored_at VARCHAR NOT NULL,
    period_start VARCHAR, period_end VARCHAR, symbol VARCHAR NOT NULL, score DOUBLE NOT NULL,
    sharpe DOUBLE, win_rate DOUBLE, trades DOUBLE, total_return DOUBLE, outperformance DOUBLE, formula VARCHAR,
    PRIMARY KEY (run_id, cycle, symbol))"""
# issue 11: scores are kept per data source (synthetic scores never mix with real ones); older
# stores get the column (NULL = unknown source, written before it existed)
_ADD_SOURCE = f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS source VARCHAR"
_LATEST = f"""SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY source, symbol ORDER BY scored_at DESC, run_id DESC, cycle DESC) AS rn
    FROM {TABLE} {{where}}) WHERE rn = 1 ORDER BY score DESC, symbol, source"""


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
                self._con.execute(_ADD_SOURCE)
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
             formula: str = "", source: str | None = None) -> int:
        """Append one cycle's scores atomically; returns the number of rows written."""
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        df = pd.DataFrame({
            "run_id": run_id, "cycle": int(cycle), "scored_at": now,
            "period_start": period[0] if period else None, "period_end": period[1] if period else None,
            "symbol": scores["symbol"].astype(str), "score": scores["score"].astype(float),
            **{c: scores[c].astype(float) for c in ("sharpe", "win_rate", "trades", "total_return", "outperformance")},
            "formula": formula, "source": source,
        })[COLUMNS]
        with transaction(self._con, "cannot save scores", self.path):
            self._con.register("_scores_in", df)
            self._con.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) SELECT * FROM _scores_in")
            self._con.unregister("_scores_in")
        return len(df)

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        import duckdb

        try:
            if not self._con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]).fetchone()[0]:  # type: ignore[index]
                return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
            df = self._con.execute(sql, params or []).df()
            if "source" not in df.columns:  # a read-only store written before issue 11
                df["source"] = None
            return df
        except duckdb.Error as exc:
            raise StoreError(f"cannot read scores: {first_line(exc)}", file=self.path) from None

    def latest(self, source: str | None = None) -> pd.DataFrame:
        """Each symbol's most recent score per data source (or of one source), best first."""
        where, params = self._where(source=source)
        return self._df(_LATEST.format(where=where), params).reset_index(drop=True)

    def history(self, symbol: str | None = None, source: str | None = None) -> pd.DataFrame:
        """Every stored score (of one symbol, of one source), oldest first."""
        where, params = self._where(symbol=symbol, source=source)
        return self._df(f"SELECT * FROM {TABLE} {where} ORDER BY scored_at, run_id, cycle, symbol", params)

    def _where(self, **eq: str | None) -> tuple[str, list[Any]]:
        """A WHERE clause on the given columns (None = any); `source` only when the store has the column."""
        import duckdb

        if eq.get("source") is not None:
            try:
                cols = [r[0] for r in self._con.execute(f"DESCRIBE {TABLE}").fetchall()]
            except duckdb.Error:
                cols = []
            if "source" not in cols:
                return "WHERE false", []
        conds = [(f"{k} = ?", v) for k, v in eq.items() if v is not None]
        return ("WHERE " + " AND ".join(c for c, _ in conds), [v for _, v in conds]) if conds else ("", [])
