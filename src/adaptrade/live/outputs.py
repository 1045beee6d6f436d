"""A paper session's `--out` files in the backtest's formats: trades.csv and params.csv as the per-stock
backtest writes them (reports/files.py), orders.csv and fills.csv in portfolio mode's columns."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.backtest.results import PARAM_COLUMNS, TRADE_COLUMNS
from adaptrade.portfolio.results import FILL_COLUMNS, ORDER_COLUMNS
from adaptrade.strategy.state import S_ENTRY_COST, S_ENTRY_PRICE, S_ENTRY_T, S_SHARES

PAPER_FILES = ("trades.csv", "params.csv", "orders.csv", "fills.csv")


def trades_frame(loop: Any) -> pd.DataFrame:
    """Closed trades per symbol in symbol order, then the position still open (marked at its last close)."""
    rows: list[dict[str, Any]] = []
    doc = loop.doc
    for sym in loop.symbols:
        rows += [{"symbol": sym, **r} for r in doc["trades"][sym]]
        st = loop.strats[sym]
        if st.state[S_SHARES] > 0.0:
            value = st.state[S_SHARES] * st.last_close
            cost = st.state[S_ENTRY_COST]
            rows.append({"symbol": sym, "entry_date": str(loop.feed.sessions[int(st.state[S_ENTRY_T])]),
                         "entry_price": float(st.state[S_ENTRY_PRICE]), "exit_date": None, "exit_price": math.nan,
                         "shares": float(st.state[S_SHARES]), "pnl": value - cost, "return": value / cost - 1.0,
                         "bars_held": st.valid_bars - doc["entry_count"][sym]})
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)


def params_frame(loop: Any) -> pd.DataFrame:
    """The parameter log, per symbol in symbol order, in the order the changes happened."""
    rows = [{"symbol": s, **r} for s in loop.symbols for r in loop.doc["changes"][s]]
    return pd.DataFrame(rows, columns=PARAM_COLUMNS)


def orders_frame(broker_orders: list[dict[str, Any]]) -> pd.DataFrame:
    """Every order the session sent, as the broker last reported it (portfolio mode's orders.csv columns)."""
    rows = [{"order_id": o["client_order_id"], "symbol": o["symbol"], "side": "buy" if o["side"] > 0 else "sell",
             "quantity": o["quantity"], "order_type": "market", "limit_price": math.nan,
             "created": o["created"] + "T16:00:00", "status": o["status"], "time_in_force": o["time_in_force"],
             "notional": o["notional"], "filled_quantity": o["filled_quantity"], "filled_notional": o["filled_notional"],
             "avg_fill_price": o["avg_fill_price"], "reason": o["reason"], "est_cost_bps": math.nan,
             "last_update": o["last_update"]} for o in broker_orders]
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def paper_frames(loop: Any) -> dict[str, pd.DataFrame]:
    """The session's four tables (trades, params, orders, fills): what `--out` writes and the store holds."""
    return {"trades": trades_frame(loop), "params": params_frame(loop), "orders": orders_frame(loop.broker.orders()),
            "fills": pd.DataFrame(loop.doc["fills"], columns=FILL_COLUMNS)}


def store_frames(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with the backtest's stored dtypes: trade and parameter dates as timestamps (the CSVs hold ISO text)."""
    out = dict(tables)
    for name, cols in (("trades", ("entry_date", "exit_date")), ("params", ("date",))):
        if name in out:
            df = out[name].copy()
            for c in cols:
                df[c] = pd.to_datetime(df[c])
            out[name] = df
    return out


def write_paper_outputs(loop: Any, out_dir: Path) -> list[Path]:
    """Write the four files into `out_dir` through a temporary sibling folder (nothing half-written)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, df in paper_frames(loop).items():
            df.to_csv(tmp / f"{name}.csv", index=False)
        out_dir.mkdir(exist_ok=True)
        written = []
        for name in PAPER_FILES:
            (tmp / name).replace(out_dir / name)
            written.append(out_dir / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
