"""A stored run's tables in an in-memory DuckDB database, with the account curve every analytic uses:
the portfolio account for portfolio runs; for per-stock runs, the equal-weight book of the all-in
strategies (each stock's growth, flat before its first and after its last bar, averaged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from adaptrade.storage.runs import RunStore

ACCOUNT_SQL = """
CREATE TABLE growth AS
WITH firsts AS (SELECT symbol, arg_min(equity, date) AS e0 FROM equity GROUP BY symbol),
     grid AS (SELECT d.date, s.symbol FROM (SELECT DISTINCT date FROM equity) d CROSS JOIN firsts s),
     g AS (SELECT grid.date, grid.symbol, e.equity / f.e0 AS g FROM grid
           LEFT JOIN equity e USING (date, symbol) JOIN firsts f USING (symbol))
SELECT date, symbol, COALESCE(last_value(g IGNORE NULLS) OVER (PARTITION BY symbol ORDER BY date
       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 1.0) AS g FROM g
"""


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


def load(target: str, run_id: str, lock_timeout: float = 30.0) -> RunData:
    """Read the run from its store and register its tables in a fresh in-memory DuckDB."""
    with RunStore(target, read_only=True, lock_timeout=lock_timeout) as rs:
        run = rs.load_run(run_id)
    return from_run(run)


def from_run(run: dict[str, Any]) -> RunData:
    """A run already read (RunStore.load_run) in a fresh in-memory DuckDB (the service reads through its own connection)."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    for name in ("equity", "trades", "stocks", "fills", "account"):
        if name in run:
            df = run[name].copy()
            for c in df.columns:
                if isinstance(df[c].dtype, pd.CategoricalDtype):
                    df[c] = df[c].astype(str)
            con.register(f"_{name}", pa.Table.from_pandas(df, preserve_index=False))
    portfolio = "account" in run and len(run["account"]) > 0
    con.execute("CREATE TABLE equity AS SELECT symbol, CAST(date AS DATE) AS date, equity FROM _equity" if "equity" in run
                else "CREATE TABLE equity (symbol VARCHAR, date DATE, equity DOUBLE)")
    con.execute(ACCOUNT_SQL)
    if portfolio:
        con.execute("CREATE TABLE account AS SELECT CAST(date AS DATE) AS date, equity FROM _account ORDER BY date")
        cash = float(run["summary"].get("portfolio", {}).get("initial_cash") or run["account"]["equity"].iloc[0])
    else:
        con.execute("CREATE TABLE account AS SELECT date, avg(g) AS equity FROM growth GROUP BY date ORDER BY date")
        cash = 1.0
    for name in ("trades", "stocks", "fills"):
        if name in run:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
    return RunData(con, run, portfolio, cash)
