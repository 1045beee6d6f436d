"""Write a run's files (summary.json, stocks.csv, trades.csv, params.csv, equity.parquet,
report.html) atomically: into a temporary folder first, then moved into place."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.backtest.aggregate import aggregate, rank
from adaptrade.backtest.results import (
    PARAM_COLUMNS,
    STOCK_COLUMNS,
    TRADE_COLUMNS,
    BacktestResult,
)
from adaptrade.errors import ConfigError

FILES = ("summary.json", "stocks.csv", "trades.csv", "params.csv", "equity.parquet", "report.html")
# written beside FILES by other modes (portfolio); removed from a reused --out folder when this run
# does not write them, so a folder never mixes two runs
OTHER_RUN_FILES = ("orders.csv", "fills.csv", "order_history.csv", "risk_events.csv", "account.csv", "trades_all.csv")


def summary(result: BacktestResult) -> dict[str, Any]:
    """The aggregate block plus the run's settings; returns as fractions."""
    agg = aggregate(result.stocks)
    agg["top_by_sharpe"] = rank(result.stocks, "sharpe")["symbol"].head(5).tolist()
    agg["top_by_outperformance"] = rank(result.stocks, "outperformance")["symbol"].head(5).tolist()
    if result.settings.get("benchmark_coverage", 1.0) == 0.0:  # no benchmark on any date: no beat counts (issue 11)
        agg.update(beat_benchmark=None, beat_benchmark_share=None, benchmark_coverage="none")
    complete = bool(result.settings.get("complete", True))
    failed = list(result.settings.get("failed_symbols", []) or [])  # type: ignore[call-overload]
    return {"settings": result.settings, "aggregate": agg, "complete": complete, "failed_symbols": failed}


def _iso(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


def stocks_frame(result: BacktestResult) -> pd.DataFrame:
    """The stocks.csv table: the contract columns, in order."""
    return result.stocks[STOCK_COLUMNS]


def trades_frame(result: BacktestResult) -> pd.DataFrame:
    """The trades.csv table: ISO dates, empty exit fields for a position still open."""
    t = result.trades[TRADE_COLUMNS].copy()
    t["entry_date"] = _iso(t["entry_date"])
    t["exit_date"] = _iso(t["exit_date"])
    return t


def params_frame(result: BacktestResult) -> pd.DataFrame:
    """The params.csv table (the parameter log)."""
    p = result.params[PARAM_COLUMNS].copy()
    p["date"] = _iso(p["date"])
    return p


def write_outputs(
    result: BacktestResult,
    out_dir: Path,
    report_symbol: str | None = None,
    summary_doc: dict[str, Any] | None = None,
    account: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every output file of a run into `out_dir`; nothing half-written on failure.

    `account` (portfolio mode) adds the account's equity and drawdown to report.html.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} exists and is not a folder", field="out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    doc = summary_doc if summary_doc is not None else summary(result)
    clean_stale_temp(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}.", dir=out_dir.parent))
    try:
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
        stocks_frame(result).to_csv(tmp / "stocks.csv", index=False)
        trades_frame(result).to_csv(tmp / "trades.csv", index=False)
        params_frame(result).to_csv(tmp / "params.csv", index=False)
        eq = result.equity_long()
        eq["symbol"] = eq["symbol"].astype(str)
        eq.to_parquet(tmp / "equity.parquet", index=False)
        if len(result.stocks):  # every batch failed: no report to draw, the rest says so
            from adaptrade.reports.html import write_report

            write_report(result, tmp / "report.html", symbol=report_symbol, account=account)
        out_dir.mkdir(exist_ok=True)
        for name in FILES + OTHER_RUN_FILES:
            if not (tmp / name).exists():
                (out_dir / name).unlink(missing_ok=True)
        written = []
        for name in FILES:
            src = tmp / name
            if src.exists():
                src.replace(out_dir / name)
                written.append(out_dir / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale_temp(out_dir: Path) -> list[Path]:
    """Remove the hidden `.NAME.PID.xxxx` temp folders a killed run into `out_dir` left beside it.

    Folders whose PID is still running (a concurrent run) are kept; older ones without a PID too
    (`.NAME.xxxx`, written before issue 11) are removed. Returns what was removed.
    """
    out_dir = Path(out_dir)
    removed: list[Path] = []
    if not out_dir.parent.is_dir():
        return removed
    for p in out_dir.parent.glob(f".{out_dir.name}.*"):
        if not p.is_dir():
            continue
        parts = p.name[len(out_dir.name) + 2:].split(".", 1)
        if len(parts) == 2 and parts[0].isdigit() and _alive(int(parts[0])):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    """True when a process with this id runs (a concurrent writer)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        v = float(o)
        return v if np.isfinite(v) else None
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (np.datetime64, pd.Timestamp)):
        return str(o)[:10]
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
