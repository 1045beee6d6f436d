"""Streamed per-stock runs write the same files as the whole-universe path, batch by batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from adaptrade.parallel import runner
from adaptrade.parallel.stream import plan
from adaptrade.reports.files import write_outputs
from adaptrade.reports.stream import RunningMean, run_streamed
from adaptrade.settings import Settings
from adaptrade.strategy.params import StrategyConfig


def _both(tmp_path: Path, req: runner.RunRequest, settings: Settings) -> tuple[Path, Path, object]:
    """The current path (runner.run + write_outputs) and the streamed one, into two folders."""
    result, _ = runner.run(req, settings, executor="serial")
    write_outputs(result, tmp_path / "whole")
    streamed, _ = run_streamed(plan(req, settings), settings, tmp_path / "stream")
    return tmp_path / "whole", tmp_path / "stream", (result, streamed)


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_streamed_files_equal_the_whole_universe_path(tmp_path: Path, executor: str) -> None:
    """120 synthetic stocks in batches of 50 (the last batch short): every file's content is the same."""
    settings = Settings(batch_size=50, executor=executor, workers=2)
    req = runner.RunRequest(source="synthetic", stocks=120, bars=400, seed=7, universe="nasdaq100")
    whole, stream, (result, streamed) = _both(tmp_path, req, settings)
    for name in ("stocks.csv", "trades.csv", "params.csv"):
        assert (stream / name).read_bytes() == (whole / name).read_bytes(), name
    assert len(pd.read_csv(stream / "trades.csv")) > 100  # trades from every batch, one header
    a, b = pq.read_table(whole / "equity.parquet"), pq.read_table(stream / "equity.parquet")
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.equals(b)
    assert pq.ParquetFile(stream / "equity.parquet").num_row_groups == 3  # one group per batch (50, 50, 20 stocks)
    sa, sb = json.loads((whole / "summary.json").read_text()), json.loads((stream / "summary.json").read_text())
    for k in ("executor", "workers", "streamed"):
        sa["settings"].pop(k, None), sb["settings"].pop(k, None)
    assert sa == sb
    assert (stream / "report.html").stat().st_size > 100_000
    # what the run store reads: the same tables back from the files
    pd.testing.assert_frame_equal(streamed.trades, result.trades)
    pd.testing.assert_frame_equal(streamed.params, result.params)
    pd.testing.assert_frame_equal(pd.concat(list(streamed.equity_frames()), ignore_index=True), result.equity_long())


def test_synthetic_batches_generate_each_symbol_alone() -> None:
    """A batch's bars are the same rows of the whole universe (each symbol has its own random stream)."""
    settings = Settings()
    req = runner.RunRequest(source="synthetic", stocks=70, bars=300, seed=3)
    whole = runner.load_data(req, settings).bars
    p = plan(req, settings)
    part = p.bars_for(p.symbols[64:70])
    np.testing.assert_array_equal(part.close, whole.close[64:70])
    np.testing.assert_array_equal(part.dates, whole.dates)


def test_running_mean_equals_nanmean() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(37, 50))
    a[rng.random(a.shape) < 0.2] = np.nan
    a[:, 3] = np.nan
    m = RunningMean(50)
    m.add(a[:20])
    m.add(a[20:])
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmean(a, axis=0)
    np.testing.assert_array_equal(m.mean(), want)


def test_archive_streams_its_loaded_bars(tmp_path: Path, sample_dir: Path) -> None:
    """Archive runs: batches are row views of the loaded bars; files equal the whole path's."""
    settings = Settings(batch_size=3, executor="threads", workers=2)
    req = runner.RunRequest(source="archive", data_dir=sample_dir, universe=None,
                            symbols=("AAPL", "MSFT", "AMZN", "NVDA", "GOOGL", "META", "COST"), stocks=None,
                            strategy=StrategyConfig())
    whole, stream, _ = _both(tmp_path, req, settings)
    for name in ("stocks.csv", "trades.csv", "params.csv"):
        assert (stream / name).read_bytes() == (whole / name).read_bytes(), name
    assert pq.read_table(whole / "equity.parquet").equals(pq.read_table(stream / "equity.parquet"))


def test_streamed_estimate_does_not_grow_with_batches() -> None:
    """The streamed model: 20,000 x 2,520 fits in 2 GB; growth per stock is its summary row only."""
    small = runner.estimate_stream_bytes(2_000, 2520)
    big = runner.estimate_stream_bytes(20_000, 2520)
    assert big < 2 * 2**30
    assert big - small == 18_000 * runner.STREAM_BYTES_PER_STOCK
    runner.check_stream_memory(20_000, 2520, Settings(), available=4 * 2**30)  # not refused
    with pytest.raises(Exception, match="needs an estimated"):
        runner.check_stream_memory(20_000, 10_000_000, Settings(), available=4 * 2**30)  # one batch would not fit


def test_streamed_run_stores_like_the_whole_run(tmp_path: Path, store_url: str) -> None:
    """The run store gets a streamed run's equity a row group at a time, in order, and its bar-by-bar curves from the running
    sums; it loads back as the whole run's tables."""
    from adaptrade.reports.files import summary
    from adaptrade.storage.runs import RunStore

    settings = Settings(batch_size=20, executor="serial")
    req = runner.RunRequest(source="synthetic", stocks=45, bars=300, seed=5)
    result, _ = runner.run(req, settings, executor="serial")
    streamed, doc = run_streamed(plan(req, settings), settings, None)
    try:
        assert pq.ParquetFile(streamed.folder / "equity.parquet").num_row_groups == 3
        with RunStore(store_url) as rs:
            a = rs.load_run(rs.save(result, summary(result)))
            b = rs.load_run(rs.save(streamed, doc))  # type: ignore[arg-type]
    finally:
        folder = streamed.folder
        streamed.close()
    assert not folder.exists()  # no --out: the temporary files are gone after the store has them
    for name in ("stocks", "trades", "params", "equity", "curves"):  # curves: the streamed running sums = the whole run's means
        pd.testing.assert_frame_equal(b[name], a[name], obj=name)
    from adaptrade.backtest.curves import mean_curves
    from adaptrade.reports.html import _normalised

    want = mean_curves(*_normalised(result))
    for col, curve in zip(("strategy", "buy_hold", "benchmark"), want):
        np.testing.assert_array_equal(b["curves"][col].to_numpy(), curve)
