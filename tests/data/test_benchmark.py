"""Benchmarks: SPY for the adjusted basis, ^GSPC for raw prices; data dir first, shipped sample second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import adaptrade.data.sample as sample
from adaptrade.data.archive import load_archive
from adaptrade.data.benchmark import BenchmarkSeries, load_benchmark
from adaptrade.errors import ConfigError, DataError

DATES = np.array(["2014-03-07", "2014-03-10", "2014-03-11", "2014-03-15", "2024-03-08"], dtype="datetime64[D]")


def test_sample_fallback_both_bases() -> None:
    spy = load_benchmark(None, DATES, "adjusted")
    gspc = load_benchmark(None, DATES, "raw")
    assert isinstance(spy, BenchmarkSeries) and spy.symbol == "SPY" and gspc.symbol == "GSPC"
    for series in (spy, gspc):
        assert series.close.dtype == np.float64 and series.close.shape == DATES.shape
        # before the sample starts and on a Saturday: NaN
        assert np.isnan(series.close[[0, 3]]).all() and np.isfinite(series.close[[1, 2, 4]]).all()
        assert "3 of 5 dates covered" in series.note and "sample" in series.file
    assert gspc.close[1] == 1877.17  # the price index, not SPY's total-return price
    assert "total return" in spy.note and "no dividends" in gspc.note


def test_data_dir_benchmark_folder_wins(tmp_path: Path) -> None:
    (tmp_path / "benchmark").mkdir()
    (tmp_path / "benchmark" / "SPY.csv").write_text(
        "date,open,high,low,close,volume\n2014-03-10,1,1,1,1.5,10\n2014-03-11,1,1,1,2.5,10\n")
    spy = load_benchmark(tmp_path, DATES)
    np.testing.assert_array_equal(spy.close, [np.nan, 1.5, 2.5, np.nan, np.nan])
    assert spy.file == str(tmp_path / "benchmark" / "SPY.csv")
    assert load_benchmark(tmp_path, DATES, "raw").file.endswith("GSPC.csv.gz")  # not there: the sample's


def test_bad_benchmark_file_names_line(tmp_path: Path) -> None:
    (tmp_path / "benchmark").mkdir()
    (tmp_path / "benchmark" / "GSPC.csv").write_text(
        "date,open,high,low,close,volume\n2014-03-10,1,,,1.5,10\n2014-03-10,1,,,2.5,10\n")
    with pytest.raises(DataError) as info:
        load_benchmark(tmp_path, DATES, "raw")
    assert (info.value.row, info.value.field) == (3, "date") and "GSPC.csv" in str(info.value)


def test_missing_benchmark_and_bad_basis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample, "sample_dir", lambda: tmp_path / "empty")
    with pytest.raises(DataError, match="benchmark SPY not found"):
        load_benchmark(tmp_path, DATES)
    with pytest.raises(ConfigError, match="price basis"):
        load_benchmark(None, DATES, "total")  # type: ignore[arg-type]


def test_sample_benchmarks_cover_sample_stocks(sample_dir: Path) -> None:
    bars, _ = load_archive(sample_dir)
    for basis in ("adjusted", "raw"):
        assert np.isfinite(load_benchmark(sample_dir, bars.dates, basis).close).all()  # type: ignore[arg-type]


def test_shared_benchmarks_equal_the_sample(shared_data_dir: Path, sample_dir: Path) -> None:
    bars, _ = load_archive(sample_dir)
    for basis in ("adjusted", "raw"):
        shared = load_benchmark(shared_data_dir, bars.dates, basis)  # type: ignore[arg-type]
        shipped = load_benchmark(None, bars.dates, basis)  # type: ignore[arg-type]
        assert str(shared_data_dir) in shared.file
        np.testing.assert_array_equal(shared.close, shipped.close)
