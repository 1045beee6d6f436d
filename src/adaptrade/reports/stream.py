"""A streamed per-stock run's files, written batch by batch: equity.parquet row groups, trades.csv and
params.csv appended, stocks.csv / summary.json / report.html at the end from the summary rows and
running sums. Only those (one row per stock, a few sums per bar) outlive a batch.

The files go to a temporary folder beside --out and are moved into place at the end (nothing
half-written); without --out they live in a temporary folder only as long as the run store needs them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.backtest.results import PARAM_COLUMNS, TRADE_COLUMNS, BacktestResult
from adaptrade.errors import ConfigError
from adaptrade.memory import release_free_memory
from adaptrade.parallel.stream import StreamPlan, StreamedBatch, stream
from adaptrade.reports.files import (
    FILES,
    OTHER_RUN_FILES,
    EquityWriter,
    _json_default,
    clean_stale_temp,
    params_frame,
    stocks_frame,
    summary,
    trades_frame,
)
from adaptrade.settings import Settings


class RunningMean:
    """Mean over stocks of [stock, t] curves (NaN ignored), accumulated one stock row at a time.

    Rows are added in stock order, which is the order np.nanmean(axis=0) sums them in, so the
    streamed average matches the whole-universe one.
    """

    def __init__(self, n_bars: int) -> None:
        self.total = np.zeros(n_bars)
        self.count = np.zeros(n_bars, dtype=np.int64)

    def add(self, rows: np.ndarray) -> None:
        """Add each row of `rows` [stock, t]."""
        for row in rows:
            ok = ~np.isnan(row)
            self.total += np.where(ok, row, 0.0)
            self.count += ok

    def mean(self) -> np.ndarray:
        """total / count per bar (NaN where no stock had a value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)


@dataclass(frozen=True)
class StreamOutput:
    """What a stored run reads of `output`: the bars' labels (no arrays) and the strategy."""

    bars: Any  # StreamBars
    config: Any


@dataclass(frozen=True)
class StreamBars:
    """The universe's labels without its arrays (symbols, dates, source)."""

    symbols: tuple[str, ...]
    dates: np.ndarray
    source: str

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def n_bars(self) -> int:
        return len(self.dates)


@dataclass
class StreamedResult:
    """A finished streamed run: summary rows in memory, everything per bar or per trade in its files.

    Quacks like BacktestResult for the terminal tables, summary.json and the run store: `trades`,
    `params` read the CSVs back; `equity_frames()` yields equity.parquet a row group at a time; `average` holds the
    cross-stock mean curves.
    """

    stocks: pd.DataFrame
    benchmark_close: np.ndarray | None
    benchmark_symbol: str
    settings: dict[str, object]
    output: StreamOutput
    folder: Path  # where trades.csv, params.csv and equity.parquet are (--out, or a temporary folder)
    # the mean over stocks of the normalised strategy, buy & hold and benchmark curves (the running sums): the
    # report's average figures and the curves stored with the run (storage/curves.py)
    average: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
    _cleanup: Path | None = field(default=None, repr=False)

    @property
    def dates(self) -> np.ndarray:
        return self.output.bars.dates

    @property
    def trades(self) -> pd.DataFrame:
        """trades.csv read back with BacktestResult.trades' dtypes."""
        t = pd.read_csv(self.folder / "trades.csv", float_precision="round_trip", dtype={"symbol": str})
        t["symbol"] = pd.Categorical(t["symbol"], categories=list(self.output.bars.symbols))
        for c in ("entry_date", "exit_date"):
            t[c] = pd.to_datetime(t[c]).astype("datetime64[ns]")
        for c in ("entry_price", "exit_price", "shares", "pnl", "return"):
            t[c] = t[c].astype(np.float64)  # an empty file reads as object
        t["bars_held"] = t["bars_held"].astype(np.int64)
        return t[TRADE_COLUMNS]

    @property
    def params(self) -> pd.DataFrame:
        """params.csv read back with BacktestResult.params' dtypes."""
        p = pd.read_csv(self.folder / "params.csv", float_precision="round_trip", dtype={"symbol": str, "parameter": object, "reason": object})
        p["symbol"] = pd.Categorical(p["symbol"], categories=list(self.output.bars.symbols))
        p["date"] = pd.to_datetime(p["date"]).astype("datetime64[ns]")
        p["old_value"], p["new_value"] = p["old_value"].astype(np.float64), p["new_value"].astype(np.float64)
        return p[PARAM_COLUMNS]

    def equity_frames(self) -> Iterator[pd.DataFrame]:
        """equity.parquet one row group at a time, as equity_long() frames (symbol categorical over all symbols)."""
        import pyarrow.parquet as pq

        cats = pd.CategoricalDtype(list(self.output.bars.symbols))
        f = pq.ParquetFile(self.folder / "equity.parquet")
        for g in range(f.num_row_groups):
            df = f.read_row_group(g).to_pandas()
            df["symbol"] = df["symbol"].astype(cats)
            yield df

    @property
    def equity_path(self) -> Path:
        """equity.parquet (date, symbol, equity; rows stock by stock): what the store reads in bulk."""
        return self.folder / "equity.parquet"

    def equity_dtypes(self) -> pd.DataFrame:
        """An empty frame with the dtypes of `equity_frames()`' frames (what a load of the stored run rebuilds)."""
        return pd.DataFrame({"date": np.array([], dtype="datetime64[ns]"),
                             "symbol": pd.Categorical([], categories=list(self.output.bars.symbols)),
                             "equity": np.array([], dtype=np.float64)})

    def equity_long(self) -> pd.DataFrame:
        """The whole equity table (memory grows with the universe: prefer equity_frames)."""
        parts = list(self.equity_frames())
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"date": [], "symbol": [], "equity": []})

    def close(self) -> None:
        """Remove the temporary folder of a run written without --out."""
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None


def _prepare(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The batch's normalised curves (on the worker thread)."""
    from adaptrade.backtest.curves import normalised

    return normalised(result)


def run_streamed(plan: StreamPlan, settings: Settings, out: Path | None, report_symbol: str | None = None,
                 progress: Callable[[int], None] | None = None, executor: str | None = None,
                 workers: int | None = None) -> tuple[StreamedResult, dict[str, Any]]:
    """Run `plan` batch by batch, writing every file as it goes; returns the result and summary.json's document."""
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} exists and is not a folder", field="out")
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temp(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
    else:
        tmp = Path(tempfile.mkdtemp(prefix="adaptrade-run."))
    try:
        result, doc = _write(plan, settings, tmp, report_symbol, progress, executor, workers, with_report=out is not None)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out is None:
        result._cleanup = tmp
        return result, doc
    try:
        out.mkdir(exist_ok=True)
        for name in FILES + OTHER_RUN_FILES + ("attribution.csv",):
            if not (tmp / name).exists():
                (out / name).unlink(missing_ok=True)
        for name in FILES:
            if (tmp / name).exists():
                (tmp / name).replace(out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.folder = out
    return result, doc


def _write(plan: StreamPlan, settings: Settings, tmp: Path, report_symbol: str | None, progress: Callable[[int], None] | None,
           executor: str | None, workers: int | None, with_report: bool) -> tuple[StreamedResult, dict[str, Any]]:
    """The batches into `tmp`: appended CSVs and Parquet groups, then the files that need every stock."""
    n_t = len(plan.dates)
    means = [RunningMean(n_t), RunningMean(n_t), RunningMean(n_t)]
    has_bench = False
    rows: list[pd.DataFrame] = []
    failed: list[StreamedBatch] = []
    done = 0
    eq = EquityWriter(tmp / "equity.parquet")
    with open(tmp / "trades.csv", "w", newline="") as ft, open(tmp / "params.csv", "w", newline="") as fp:
        first = True
        for b in stream(plan, settings, prepare=_prepare, executor=executor, workers=workers):
            done += len(b.symbols)
            if b.result is None:
                failed.append(b)
            else:
                r = b.result
                trades_frame(r).to_csv(ft, index=False, header=first)
                params_frame(r).to_csv(fp, index=False, header=first)
                first = False
                eq.write(r.output.bars.symbols, r.output.bars.dates, r.output.bars.valid, r.output.equity)
                rows.append(r.stocks)
                for m, curves in zip(means, b.prepared):
                    if curves is not None:
                        m.add(curves)
                has_bench = has_bench or b.prepared[2] is not None
            if progress is not None:
                progress(done)
        if first:  # every batch failed: the headers alone
            pd.DataFrame(columns=TRADE_COLUMNS).to_csv(ft, index=False)
            pd.DataFrame(columns=PARAM_COLUMNS).to_csv(fp, index=False)
    eq.close()
    info = plan.info
    info.update(complete=not failed, failed_symbols=[s for b in failed for s in b.symbols],
                failed_batches=[{"symbols": list(b.symbols), "error": b.error} for b in failed])
    if rows:
        stocks = pd.concat(rows, ignore_index=True)
    else:
        from adaptrade.backtest.results import STOCK_COLUMNS, STOCK_EXTRA_COLUMNS

        stocks = pd.DataFrame(columns=STOCK_COLUMNS + ["excess_vs_buy_hold"] + STOCK_EXTRA_COLUMNS)
    kept = tuple(s for s in plan.symbols if s not in set(info["failed_symbols"]))  # type: ignore[arg-type]
    avg = [m.mean() for m in means]
    res = StreamedResult(stocks, plan.benchmark_close, plan.benchmark_symbol, info,
                         StreamOutput(StreamBars(kept, plan.dates, plan.source), plan.req.strategy), tmp,
                         average=(avg[0], avg[1], avg[2] if has_bench else None) if rows else None)
    doc = summary(res)  # type: ignore[arg-type]  # reads stocks, settings, benchmark, dates
    (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    stocks_frame(res).to_csv(tmp / "stocks.csv", index=False)  # type: ignore[arg-type]
    release_free_memory()  # the batches' memory, before the report and the store stack on it
    if with_report and len(stocks):
        _report(plan, settings, res, tmp / "report.html", report_symbol, avg, has_bench, doc)
        release_free_memory()
    return res, doc


ANALYTICS_MAX_STOCK_BARS = 5_000_000  # report analytics read the whole equity table back: ~2,000 stocks x 2,520 bars


def _report(plan: StreamPlan, settings: Settings, res: StreamedResult, path: Path, report_symbol: str | None,
            avg: list[np.ndarray], has_bench: bool, doc: dict[str, Any]) -> None:
    """report.html: the featured stock re-run alone (bit-identical: stocks are independent), the averages from the running sums."""
    from adaptrade.backtest.aggregate import rank
    from adaptrade.reports.files import min_trades_of
    from adaptrade.reports.html import trade_cap_note, write_report

    k = min_trades_of(res)  # type: ignore[arg-type]
    eligible = rank(res.stocks, "sharpe", min_trades=k)
    eligible = eligible[eligible["trades"] >= k]
    featured = report_symbol or (str(eligible["symbol"].iloc[0]) if len(eligible) else str(res.stocks["symbol"].iloc[0]))
    one = plan.backtest((featured,), settings)
    whole = BacktestResult(one.output, res.stocks, one.trades, one.params, res.benchmark_close, res.benchmark_symbol, res.settings)
    stock_bars = len(res.stocks) * len(plan.dates)
    from adaptrade.settings import load_settings

    few = trade_cap_note(res.stocks, load_settings().report_analytics_max_trades) is None
    if stock_bars <= ANALYTICS_MAX_STOCK_BARS and few:  # the analytics sections read the run's trades and equity back
        write_report(whole, path, symbol=report_symbol, average=(avg[0], avg[1], avg[2] if has_bench else None),
                     frames={"trades": res.trades, "equity": res.equity_long()}, summary_doc=doc)
    elif not few:  # write_report says why
        write_report(whole, path, symbol=report_symbol, average=(avg[0], avg[1], avg[2] if has_bench else None))
    else:  # bounded memory: the whole equity table would not be read back
        write_report(whole, path, symbol=report_symbol, average=(avg[0], avg[1], avg[2] if has_bench else None), analytics=False,
                     analytics_note=f"Left out of this report: {len(res.stocks):,} stocks x {len(plan.dates):,} bars is more than "
                                    f"{ANALYTICS_MAX_STOCK_BARS:,} stock-bars to read back. Store the run and run "
                                    "`adaptrade analytics returns|attribution|tax|drawdowns RUN`.")
