"""Quality-score history: one row per (run, cycle, symbol), never overwritten by other runs, so the
latest score of a stock and how it got there can both be read back. Saving the same run and cycle
again replaces that cycle's rows (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from adaptrade.errors import StoreError
from adaptrade.storage import schema
from adaptrade.storage.backend import display, exists

TABLE = "quality_scores"
COLUMNS = list(schema.SCORES | schema.SCORES_V5)
_LATEST = f"""SELECT {", ".join(COLUMNS)} FROM (
    SELECT *, row_number() OVER (PARTITION BY source, symbol ORDER BY scored_at DESC, run_id DESC, cycle DESC) AS rn
    FROM {TABLE} {{where}}) AS q WHERE rn = 1 ORDER BY score DESC, symbol, source"""


class ScoreStore:
    """The quality_scores table of a store (the run store by default): a DuckDB path or a postgresql:// URL."""

    def __init__(self, target: str | Path, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        self.target = str(target)
        self.path = display(self.target)
        if read_only and not exists(self.target):
            raise StoreError("no score store here yet (run `adaptrade cycle` first)", file=self.path)
        self._b = schema.open_store(self.target, read_only, lock_timeout, "score store")

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (releases a DuckDB file lock)."""
        self._b.close()

    def save(self, scores: pd.DataFrame, run_id: str, cycle: int, period: tuple[str, str] | None = None,
             formula: str = "", source: str | None = None) -> int:
        """Write one cycle's scores atomically (replacing an earlier save of the same run and cycle); returns the rows written."""
        import pyarrow as pa

        now = datetime.now(UTC).isoformat(timespec="microseconds")
        df = pd.DataFrame({
            "run_id": run_id, "cycle": int(cycle), "scored_at": now,
            "period_start": period[0] if period else None, "period_end": period[1] if period else None,
            "symbol": scores["symbol"].astype(str), "score": scores["score"].astype(float),
            **{c: scores[c].astype(float) for c in ("sharpe", "win_rate", "trades", "total_return", "outperformance")},
            "formula": formula, "source": source,
        })[COLUMNS]
        from adaptrade.storage.frames import arrow_type

        table = pa.table({c: pa.array(df[c].astype(object).where(df[c].notna(), None).tolist() if t == "text" else df[c],
                                      type=arrow_type(t)) for c, t in (schema.SCORES | schema.SCORES_V5).items()})
        with self._b.transaction("cannot save scores"):
            self._b.execute(f"DELETE FROM {TABLE} WHERE run_id = ? AND cycle = ?", [run_id, int(cycle)])
            if len(df):
                self._b.write_arrow(TABLE, table)
        return len(df)

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        try:
            if TABLE not in self._b.tables():
                return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
            return self._b.df(sql, params or [])
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot read scores: {exc}".splitlines()[0], file=self.path) from None

    def latest(self, source: str | None = None) -> pd.DataFrame:
        """Each symbol's most recent score per data source (or of one source), best first."""
        where, params = self._where(source=source)
        return self._df(_LATEST.format(where=where), params).reset_index(drop=True)

    def history(self, symbol: str | None = None, source: str | None = None) -> pd.DataFrame:
        """Every stored score (of one symbol, of one source), oldest first."""
        where, params = self._where(symbol=symbol, source=source)
        return self._df(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where} ORDER BY scored_at, run_id, cycle, symbol", params)

    @staticmethod
    def _where(**eq: str | None) -> tuple[str, list[Any]]:
        """A WHERE clause on the given columns (None = any)."""
        conds = [(f"{k} = ?", v) for k, v in eq.items() if v is not None]
        return ("WHERE " + " AND ".join(c for c, _ in conds), [v for _, v in conds]) if conds else ("", [])
