"""Shared fixtures: where the real data lives (shared data beside the clone, shipped sample)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.profiles import PROFILE

settings.load_profile(PROFILE)  # HYPOTHESIS_PROFILE=slow in CI (.ci/run): more examples

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """`../shared/data`: skip when it is absent locally, but fail under CI=true (CI has it beside the clone)."""
    if not (SHARED_DATA / "ohlcv" / "daily").is_dir():
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"shared data not found at {SHARED_DATA} (required when CI=true)")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The sample shipped in the package (10 NASDAQ-100 stocks, SPY, ^GSPC; 2014-03-10 .. 2024-03-08)."""
    from adaptrade.data.sample import sample_dir as _sample_dir

    return _sample_dir()
