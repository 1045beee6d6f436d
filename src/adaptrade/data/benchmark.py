"""Benchmark series: SPY (total return) for adjusted prices, ^GSPC (price index) for raw prices.

A strategy traded on dividend-adjusted prices earns the dividends, so it is compared with SPY, whose
OHLC are adjusted for dividends and splits; a strategy on raw traded prices earns no dividends, so
it is compared with the S&P 500 price index ^GSPC. Comparing across the two would flatter or
penalise the strategy by the dividend yield (about 1.5-2 % a year).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adaptrade.errors import ConfigError, DataError
from adaptrade.settings import PriceBasis

BENCHMARKS: dict[str, tuple[str, str]] = {
    "adjusted": ("SPY", "SPDR S&P 500 ETF, OHLC adjusted for dividends and splits (total return); "
                        "compare with the stocks' adj_close / adjusted OHLC"),
    "raw": ("GSPC", "S&P 500 price index ^GSPC (no dividends); compare with the stocks' raw close"),
}
_SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True)
class BenchmarkSeries:
    """A benchmark close aligned to the caller's dates (NaN where the benchmark has no bar)."""

    symbol: str
    close: np.ndarray
    note: str
    file: str = ""


def find_benchmark(data_dir: Path | None, symbol: str) -> Path:
    """The file of `symbol`: DIR/benchmark/, then DIR itself, then the benchmark/ folder of a data root
    DIR sits in (e.g. DIR = ROOT/ohlcv/daily), then the shipped sample; DataError if none."""
    from adaptrade.data.sample import sample_dir

    folders = [] if data_dir is None else [Path(data_dir) / "benchmark", Path(data_dir)]
    if data_dir is not None:
        folders += [up / "benchmark" for up in list(Path(data_dir).resolve().parents)[:2]]
    folders.append(sample_dir())
    for folder in folders:
        for suffix in _SUFFIXES:
            if (folder / f"{symbol}{suffix}").is_file():
                return folder / f"{symbol}{suffix}"
    raise DataError(f"benchmark {symbol} not found (looked for {symbol}.csv/.csv.gz/.parquet in "
                    f"{', '.join(str(f) for f in folders)})", file=data_dir)


def load_benchmark(data_dir: Path | None, dates: np.ndarray, basis: PriceBasis = "adjusted") -> BenchmarkSeries:
    """The benchmark matching `basis` (adjusted -> SPY, raw -> ^GSPC), its close aligned to `dates`."""
    from adaptrade.data.archive import parse_columns
    from adaptrade.data.validate import check_series

    if basis not in BENCHMARKS:
        raise ConfigError(f"unknown price basis '{basis}' (choose adjusted or raw)")
    symbol, what = BENCHMARKS[basis]
    path = find_benchmark(data_dir, symbol)
    cols, where = parse_columns(path)
    bdates, bclose = cols["date"], cols["close"]
    check_series(bdates, bclose, path, where)
    want = np.asarray(dates).astype("datetime64[D]")
    pos = np.minimum(np.searchsorted(bdates, want), len(bdates) - 1)
    hit = bdates[pos] == want
    close = np.where(hit, bclose[pos], np.nan)
    note = f"{symbol}: {what}; {int(hit.sum())} of {len(want)} dates covered; from {path}"
    return BenchmarkSeries(symbol=symbol, close=close, note=note, file=str(path))
