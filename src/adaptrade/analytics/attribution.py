"""Each stock's and each sector's contribution to the account return, summing to it; for per-stock runs
the split of each stock's result into its in-market price move (market exposure) and the rest (timing:
entry/exit prices, costs), beside buy-and-hold."""

from __future__ import annotations

import pandas as pd

from adaptrade.analytics.data import RunData

UNATTRIBUTED = "(cash, costs not in a stock)"


def _sectors() -> dict[str, str]:
    from adaptrade.universe.lists import nasdaq100

    df = nasdaq100()
    return dict(zip(df["symbol"], df["sector"]))


def attribution_tables(rd: RunData) -> dict[str, pd.DataFrame]:
    """attribution (symbol, sector, contribution, ...) with the account row last, and attribution_sectors."""
    acct = rd.df("SELECT arg_max(equity, date) / arg_min(equity, date) - 1 AS r FROM account")["r"].iloc[0]
    if rd.portfolio:  # stocks.total_return is each stock's P&L / starting cash; the remainder is named
        st = rd.df("SELECT symbol, total_return AS contribution FROM stocks ORDER BY symbol")
        rest = acct - st["contribution"].sum()
        st = pd.concat([st, pd.DataFrame({"symbol": [UNATTRIBUTED], "contribution": [rest]})], ignore_index=True)
    else:  # equal-weight book: each stock's growth - 1, over the number of stocks
        st = rd.df("SELECT symbol, (arg_max(equity, date) / arg_min(equity, date) - 1) / (SELECT count(DISTINCT symbol) FROM equity) "
                   "AS contribution FROM equity GROUP BY symbol ORDER BY symbol")
        split = rd.df("""SELECT s.symbol, s.total_return, s.buy_hold_return,
                                COALESCE(exp(sum(ln(COALESCE(t.exit_price, t.entry_price + t.pnl / t.shares) / t.entry_price))) - 1, 0) AS exposure_return
                         FROM stocks s LEFT JOIN trades t ON t.symbol = s.symbol AND t.entry_price > 0 AND t.shares > 0
                         GROUP BY ALL""")
        split["timing_return"] = split["total_return"] - split["exposure_return"]
        st = st.merge(split, on="symbol", how="left")
    sec = _sectors()
    st.insert(1, "sector", [sec.get(s, "unknown") if s != UNATTRIBUTED else "" for s in st["symbol"]])
    sectors = st.groupby("sector", as_index=False)["contribution"].sum().sort_values("contribution", ascending=False)
    total = pd.DataFrame({"symbol": ["ACCOUNT"], "sector": [""], "contribution": [acct]})
    return {"attribution": pd.concat([st, total], ignore_index=True), "attribution_sectors": sectors.reset_index(drop=True)}
