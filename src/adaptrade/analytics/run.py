"""The four analytics of a stored run as named tables, and their files (csv or json) in --out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.analytics.data import RunData

KINDS = ("returns", "attribution", "tax", "drawdowns")


def tax_tables(rd: RunData, method: str = "fifo", rates: tuple[float, float] = (0.37, 0.20)) -> dict[str, pd.DataFrame]:
    """tax_lots and tax_summary under `method`; tax_methods (after-tax return of the run under each lot
    method); tax_harvest (open lots with an unrealised loss at the run's last date)."""
    from adaptrade.analytics.tax import METHODS, marks, tax_lots, transactions

    tx = transactions(rd.run)
    as_of = pd.Timestamp(rd.df("SELECT max(date) AS d FROM account")["d"].iloc[0])
    capital = rd.initial_cash if rd.portfolio else float(rd.df("SELECT sum(e0) AS c FROM (SELECT arg_min(equity, date) AS e0 "
                                                                "FROM equity GROUP BY symbol)")["c"].iloc[0])
    pre = float(rd.df("SELECT arg_max(equity, date) / arg_min(equity, date) - 1 AS r FROM account")["r"].iloc[0])
    out: dict[str, pd.DataFrame] = {}
    rows = []
    for m in METHODS:
        lots, summary = tax_lots(tx, m, rates, as_of=as_of, marks=marks(rd.run))
        if m == method:
            out["tax_lots"], out["tax_summary"] = lots, summary
        tax = float(summary["tax"].sum()) if len(summary) else 0.0
        realised = lots[lots["disposed"].notna()]
        rows.append({"method": m, "realised_gain": float(realised["gain"].sum()), "tax": tax, "pre_tax_return": pre,
                     "after_tax_return": pre - tax / capital if capital else float("nan")})
    out["tax_methods"] = pd.DataFrame(rows)
    lots = out["tax_lots"]
    out["tax_harvest"] = lots[lots["disposed"].isna() & (lots["gain"] < 0)].sort_values("gain").reset_index(drop=True)
    return out


def tables(rd: RunData, kind: str, *, method: str = "fifo", rates: tuple[float, float] = (0.37, 0.20), worst: int = 5,
           symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The tables of one analytic (returns: of the account and every stock, or of `symbols` only)."""
    if kind == "returns":
        from adaptrade.analytics.returns import returns_tables

        return returns_tables(rd, symbols)
    if kind == "attribution":
        from adaptrade.analytics.attribution import attribution_tables

        return attribution_tables(rd)
    if kind == "drawdowns":
        from adaptrade.analytics.drawdowns import drawdown_tables

        return drawdown_tables(rd, worst)
    if kind == "tax":
        return tax_tables(rd, method, rates)
    raise ValueError(kind)


def write(tabs: dict[str, pd.DataFrame], out: Path, fmt: str) -> list[Path]:
    """Each table as NAME.csv (or NAME.json, records) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tabs.items():
        p = out / f"{name}.{'json' if fmt == 'json' else 'csv'}"
        if fmt == "json":
            p.write_text(json.dumps(_records(df), indent=1, default=str))
        else:
            df.to_csv(p, index=False)
        paths.append(p)
    return paths


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", date_format="iso"))
