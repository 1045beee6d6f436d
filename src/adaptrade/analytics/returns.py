"""Daily, monthly and yearly returns and rolling 63/252-day volatility and Sharpe, per stock and for
the account (annualised with 252 days, sample standard deviation, risk-free 0: as empyrical)."""

from __future__ import annotations

import pandas as pd

from adaptrade.analytics.data import RunData

WINDOWS = (63, 252)

_DAILY = """
CREATE OR REPLACE TABLE daily AS
SELECT 'ACCOUNT' AS symbol, date, equity / lag(equity) OVER (ORDER BY date) - 1 AS ret FROM account
UNION ALL
SELECT symbol, date, equity / lag(equity) OVER (PARTITION BY symbol ORDER BY date) - 1 AS ret FROM equity WHERE {where}
"""


def _make_daily(rd: RunData, symbols: list[str] | None) -> None:
    """The daily table of the account and every stock, or (`symbols`) of the account and those stocks only."""
    if symbols is None:
        rd.con.execute(_DAILY.format(where="true"))
    else:
        rd.con.execute(_DAILY.format(where="list_contains(?, symbol)"), [[s for s in symbols if s != "ACCOUNT"]])


def _rolling(w: int) -> str:
    frame = f"OVER (PARTITION BY symbol ORDER BY date ROWS BETWEEN {w - 1} PRECEDING AND CURRENT ROW)"
    return (f"CASE WHEN count(ret) {frame} = {w} THEN stddev_samp(ret) {frame} * sqrt(252) END AS vol_{w}, "
            f"CASE WHEN count(ret) {frame} = {w} THEN avg(ret) {frame} / NULLIF(stddev_samp(ret) {frame}, 0) * sqrt(252) END AS sharpe_{w}")


def daily(rd: RunData, symbols: list[str] | None = None) -> pd.DataFrame:
    """symbol (ACCOUNT first), date, ret, vol_63, sharpe_63, vol_252, sharpe_252 (of every stock, or of `symbols`)."""
    _make_daily(rd, symbols)
    return rd.df(f"SELECT symbol, CAST(date AS VARCHAR) AS date, ret, {', '.join(_rolling(w) for w in WINDOWS)} FROM daily WHERE ret IS NOT NULL "
                 "ORDER BY symbol <> 'ACCOUNT', symbol, date")


def periodic(rd: RunData, period: str, symbols: list[str] | None = None) -> pd.DataFrame:
    """Compounded returns per calendar `period` ('month' or 'year'): symbol, period, ret."""
    _make_daily(rd, symbols)
    return rd.df(f"SELECT symbol, strftime(date_trunc('{period}', date), '{'%Y-%m' if period == 'month' else '%Y'}') AS {period}, "
                 f"exp(sum(ln(1 + ret))) - 1 AS ret FROM daily WHERE ret IS NOT NULL GROUP BY 1, 2 "
                 f"ORDER BY symbol <> 'ACCOUNT', symbol, {period}")


def returns_tables(rd: RunData, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The returns analytic: daily (with rolling figures), monthly, yearly; of the account and every stock (or `symbols`)."""
    return {"returns_daily": daily(rd, symbols), "returns_monthly": periodic(rd, "month", symbols),
            "returns_yearly": periodic(rd, "year", symbols)}
