"""A run's tables in an in-memory DuckDB database, with the account curve every analytic uses:
the portfolio account for portfolio runs; for per-stock runs, the equal-weight book of the all-in
strategies (each stock's growth, flat before its first and after its last bar, averaged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.storage.runs import RunStore


@dataclass
class RunData:
    """One run loaded for analytics: `con` holds tables equity(symbol, date, equity), account(date, equity),
    trades, stocks and (portfolio runs) fills."""

    con: Any
    run: dict[str, Any]
    portfolio: bool
    initial_cash: float

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()


def book_curve(equity: pd.DataFrame) -> pd.DataFrame:
    """date, equity of the equal-weight book: each symbol's equity over its first value, carried flat
    (1.0 before its first bar, its last value after its last), averaged over symbols (vectorised)."""
    if not len(equity):
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "equity": pd.Series(dtype=np.float64)})
    sym, _ = pd.factorize(equity["symbol"].astype(str))
    day, days = pd.factorize(pd.to_datetime(equity["date"]).to_numpy(), sort=True)
    m = np.full((int(sym.max()) + 1, len(days)), np.nan)
    m[sym, day] = equity["equity"].to_numpy(dtype=np.float64)
    ok = np.isfinite(m)
    j = np.maximum.accumulate(np.where(ok, np.arange(m.shape[1]), -1), axis=1)
    filled = np.take_along_axis(m, np.maximum(j, 0), axis=1)
    first = m[np.arange(m.shape[0]), ok.argmax(axis=1)]
    g = np.where(j >= 0, filled / first[:, None], 1.0)
    return pd.DataFrame({"date": days, "equity": g.mean(axis=0)})


def load(target: str, run_id: str, lock_timeout: float = 30.0) -> RunData:
    """Read the run from its store and register its tables in a fresh in-memory DuckDB."""
    with RunStore(target, read_only=True, lock_timeout=lock_timeout) as rs:
        run = rs.load_run(run_id)
    return from_run(run)


def _arrow(df: pd.DataFrame) -> Any:
    """`df` as an Arrow table whose categorical columns are plain text (what `astype(str)` gives, missing values
    missing), cast in Arrow: converting per row in pandas cost ~0.15 s per million rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            col = pc.cast(table.column(i), pa.string())
            table = table.set_column(i, pa.field(field.name, pa.string()), col)
    return table


def from_run(run: dict[str, Any]) -> RunData:
    """Register a run's frames (as `RunStore.load_run` gives them, or the same frames in memory:
    stocks, trades, equity, summary; portfolio runs also account and fills) in a fresh in-memory DuckDB."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    for name in ("equity", "trades", "stocks", "fills", "account"):
        if name in run and run[name] is not None:
            con.register(f"_{name}", _arrow(run[name]))
    portfolio = run.get("account") is not None and len(run["account"]) > 0
    con.execute("CREATE TABLE equity AS SELECT symbol, CAST(date AS DATE) AS date, equity FROM _equity" if "equity" in run
                else "CREATE TABLE equity (symbol VARCHAR, date DATE, equity DOUBLE)")
    if portfolio:
        con.execute("CREATE TABLE account AS SELECT CAST(date AS DATE) AS date, equity FROM _account ORDER BY date")
        cash = float((run.get("summary") or {}).get("portfolio", {}).get("initial_cash") or run["account"]["equity"].iloc[0])
    else:
        con.register("_book", pa.Table.from_pandas(book_curve(run["equity"]) if "equity" in run else book_curve(pd.DataFrame()),
                                                   preserve_index=False))
        con.execute("CREATE TABLE account AS SELECT CAST(date AS DATE) AS date, equity FROM _book ORDER BY date")
        cash = 1.0
    for name in ("trades", "stocks", "fills"):
        if name in run and run[name] is not None:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
    return RunData(con, run, portfolio, cash)
