"""Data shipped inside the package: the NASDAQ-100 list and a ten-year sample of real daily bars.

The sample (10 liquid NASDAQ-100 stocks, SPY and ^GSPC, 2014-03-10 .. 2024-03-08) is a date-filtered
copy of the shared data (see `resources/sample/PROVENANCE.md`), so demos and tests always have real
data even where `../shared/data` is absent. Regenerate it with `scripts/make_sample.py`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SAMPLE_SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "COST", "PEP", "INTC", "CSCO")
SAMPLE_START, SAMPLE_END = "2014-03-10", "2024-03-08"


def _resource(*parts: str) -> Path:
    """Filesystem path of a packaged resource (the package is installed unzipped)."""
    return Path(str(files("adaptrade").joinpath("resources", *parts)))


def sample_dir() -> Path:
    """Folder of the shipped sample: SYMBOL.csv.gz per stock plus SPY.csv.gz and GSPC.csv.gz."""
    return _resource("sample")


def nasdaq100_csv() -> Path:
    """The shipped NASDAQ-100 constituents (symbol,name,sector,sub_industry; snapshot 2025-08-03)."""
    return _resource("nasdaq100.csv")
