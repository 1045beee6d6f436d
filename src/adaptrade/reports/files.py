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

from adaptrade.backtest.aggregate import MIN_TRADES, aggregate, rank
from adaptrade.backtest.results import (
    PARAM_COLUMNS,
    STOCK_COLUMNS,
    STOCK_EXTRA_COLUMNS,
    TRADE_COLUMNS,
    BacktestResult,
)
from adaptrade.errors import ConfigError

FILES = ("summary.json", "stocks.csv", "trades.csv", "params.csv", "equity.parquet", "report.html")
# written beside FILES by other modes (portfolio); removed from a reused --out folder when this run
# does not write them, so a folder never mixes two runs
OTHER_RUN_FILES = ("orders.csv", "fills.csv", "order_history.csv", "risk_events.csv", "account.csv", "trades_all.csv",
                   "attribution.csv")


def summary(result: BacktestResult) -> dict[str, Any]:
    """The aggregate block plus the run's settings; returns as fractions."""
    k = min_trades_of(result)
    agg = aggregate(result.stocks, min_trades=k)
    agg["top_by_sharpe"] = rank(result.stocks, "sharpe", min_trades=k)["symbol"].head(5).tolist()
    agg["top_by_outperformance"] = rank(result.stocks, "outperformance", min_trades=k)["symbol"].head(5).tolist()
    agg["benchmark_period_return"] = benchmark_period_return(result)
    if result.settings.get("benchmark_coverage", 1.0) == 0.0:  # no benchmark on any date: no beat counts (issue 11)
        agg.update(beat_benchmark=None, beat_benchmark_share=None, benchmark_coverage="none")
    complete = bool(result.settings.get("complete", True))
    failed = list(result.settings.get("failed_symbols", []) or [])  # type: ignore[call-overload]
    return {"settings": result.settings, "aggregate": agg, "complete": complete, "failed_symbols": failed}


def min_trades_of(result: BacktestResult) -> int:
    """The run's min_trades_rank setting (recorded in its settings; default 10)."""
    v = result.settings.get("min_trades_rank", MIN_TRADES)
    return int(v) if v is not None else MIN_TRADES  # type: ignore[call-overload]


def benchmark_period_return(result: BacktestResult) -> float | None:
    """The benchmark's return from the run's first to its last bar (gap rule of adaptrade.stats; None without one)."""
    from adaptrade.stats import benchmark_return

    b, n = result.benchmark_close, result.output.bars.n_bars
    if b is None or n < 2:
        return None
    v = float(benchmark_return(np.asarray(b, dtype=np.float64), 0, n - 1))
    return v if np.isfinite(v) else None


def _iso(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


def stocks_frame(result: BacktestResult) -> pd.DataFrame:
    """The stocks.csv table: the contract columns, in order, then the appended ones (alpha ... end)."""
    return result.stocks[STOCK_COLUMNS + STOCK_EXTRA_COLUMNS]


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


EQUITY_GROUP_STOCKS = 100  # stocks per Parquet row group of equity.parquet


def _equity_schema() -> Any:
    """The equity.parquet schema (date, symbol, equity) with the pandas metadata pandas itself writes."""
    import pyarrow as pa

    empty = pd.DataFrame({"date": np.array([], dtype="datetime64[ns]"), "symbol": pd.Series([], dtype=str),
                          "equity": np.array([], dtype=np.float64)})
    return pa.Table.from_pandas(empty, preserve_index=False).schema


class EquityWriter:
    """equity.parquet written a block of stocks at a time (row groups of at most EQUITY_GROUP_STOCKS stocks).

    Built with pyarrow straight from the arrays: the long table of the universe never exists in
    memory, and the file reads back as the frame `BacktestResult.equity_long()` gives.
    """

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        # dictionary pages for the repeated columns only: equity values are nearly all distinct, and trying to
        # dictionary-encode them cost more than the rest of the write (same table, a smaller file)
        self._writer = pq.ParquetWriter(self.path, _equity_schema(), use_dictionary=["symbol", "date"])
        self.rows = 0

    def write(self, symbols: tuple[str, ...], dates: np.ndarray, valid: np.ndarray, equity: np.ndarray) -> None:
        """Append the valid bars of `symbols` (rows of `valid` / `equity`), stock by stock."""
        import pyarrow as pa

        names = pa.array(list(symbols), type=pa.large_string())
        ns = dates.astype("datetime64[ns]")
        for lo in range(0, len(symbols), EQUITY_GROUP_STOCKS):
            hi = min(lo + EQUITY_GROUP_STOCKS, len(symbols))
            sym_idx, t_idx = np.nonzero(valid[lo:hi])
            sym = pa.DictionaryArray.from_arrays(pa.array(sym_idx.astype(np.int32) + lo), names).cast(pa.large_string())
            self._writer.write_table(pa.Table.from_arrays(
                [pa.array(ns[t_idx], type=pa.timestamp("ns")), sym, pa.array(equity[lo:hi][sym_idx, t_idx])],
                schema=self._writer.schema))
            self.rows += len(t_idx)

    def close(self) -> Path:
        """Finish the file (an empty run still gets a valid, empty table)."""
        if self.rows == 0:
            import pyarrow as pa

            self._writer.write_table(pa.Table.from_pylist([], schema=self._writer.schema))
        self._writer.close()
        return self.path


def write_equity(result: BacktestResult, path: Path) -> Path:
    """equity.parquet (date, symbol, equity for every valid bar, stock by stock) in row groups of stocks."""
    bars = result.output.bars
    w = EquityWriter(path)
    w.write(bars.symbols, bars.dates, bars.valid, result.output.equity)
    return w.close()


def write_outputs(
    result: BacktestResult,
    out_dir: Path,
    report_symbol: str | None = None,
    summary_doc: dict[str, Any] | None = None,
    account: pd.DataFrame | None = None,
    attribution: pd.DataFrame | None = None,
    fills: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every output file of a run into `out_dir`; nothing half-written on failure.

    `account` (portfolio mode) adds the account's equity and drawdown to report.html, whose header then
    shows the account's figures (`summary_doc["aggregate"]`); `attribution` is written as attribution.csv;
    `fills` (portfolio mode) give report.html's tax section its lots.
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
        write_equity(result, tmp / "equity.parquet")
        if len(result.stocks):  # every batch failed: no report to draw, the rest says so
            from adaptrade.reports.html import write_report

            write_report(result, tmp / "report.html", symbol=report_symbol, account=account,
                         account_aggregate=doc.get("aggregate") if account is not None else None, fills=fills, summary_doc=doc)
        if attribution is not None:
            attribution.to_csv(tmp / "attribution.csv", index=False)
        out_dir.mkdir(exist_ok=True)
        for name in FILES + OTHER_RUN_FILES:
            if not (tmp / name).exists():
                (out_dir / name).unlink(missing_ok=True)
        written = []
        for name in FILES + ("attribution.csv",):
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
    from adaptrade.storage.runs import process_alive

    out_dir = Path(out_dir)
    removed: list[Path] = []
    if not out_dir.parent.is_dir():
        return removed
    for p in out_dir.parent.glob(f".{out_dir.name}.*"):
        if not p.is_dir():
            continue
        parts = p.name[len(out_dir.name) + 2:].split(".", 1)
        if len(parts) == 2 and parts[0].isdigit() and process_alive(int(parts[0])):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


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
