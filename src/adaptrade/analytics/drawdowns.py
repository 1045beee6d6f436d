"""Drawdown episodes of the account: peak, trough and recovery dates, depth, length and time to
recover (trading days); the underwater curve. An episode runs from a peak to the first day back at it."""

from __future__ import annotations

import pandas as pd

from adaptrade.analytics.data import RunData

_UNDERWATER = """
CREATE OR REPLACE TABLE underwater AS
SELECT date, equity, max(equity) OVER w AS peak, equity / max(equity) OVER w - 1 AS underwater,
       row_number() OVER (ORDER BY date) AS i
FROM account WINDOW w AS (ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
"""
_EPISODES = """
WITH tagged AS (SELECT *, sum(CASE WHEN underwater >= 0 THEN 1 ELSE 0 END) OVER (ORDER BY date) AS ep FROM underwater),
     eps AS (SELECT ep, min(date) AS peak_date, min(i) AS peak_i, arg_min(date, underwater) AS trough_date,
                    arg_min(i, underwater) AS trough_i, min(underwater) AS depth FROM tagged GROUP BY ep HAVING min(underwater) < 0),
     starts AS (SELECT ep, min(date) AS date, min(i) AS i FROM tagged GROUP BY ep)
SELECT CAST(e.peak_date AS VARCHAR) AS peak, CAST(e.trough_date AS VARCHAR) AS trough, CAST(r.date AS VARCHAR) AS recovery, e.depth,
       COALESCE(r.i, (SELECT max(i) FROM underwater)) - e.peak_i AS length,
       r.i - e.trough_i AS time_to_recover, e.trough_i - e.peak_i AS decline
FROM eps e LEFT JOIN starts r ON r.ep = e.ep + 1 ORDER BY e.peak_date
"""


def drawdown_tables(rd: RunData, worst: int = 5) -> dict[str, pd.DataFrame]:
    """episodes (every one, in time order), worst (the `worst` deepest), underwater (date, underwater)."""
    rd.con.execute(_UNDERWATER)
    eps = rd.df(_EPISODES)
    return {"drawdowns": eps, "drawdowns_worst": eps.sort_values("depth").head(worst).reset_index(drop=True),
            "underwater": rd.df("SELECT CAST(date AS VARCHAR) AS date, underwater FROM underwater ORDER BY date")}
