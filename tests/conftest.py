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


PG_ADMIN = os.environ.get("ADAPTRADE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> object:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped after it. Skipped when
    PostgreSQL is unreachable locally; a failure under CI=true."""
    import secrets

    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN} (required when CI=true): {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}")
    name = f"adaptrade_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _empty_pg(url: str) -> str:
    """The session database with an empty public schema (each test starts from nothing)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP SCHEMA public CASCADE")
        con.execute("CREATE SCHEMA public")
    return url


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on each backend: a DuckDB file in tmp_path, or the session's PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "store.duckdb")
    return _empty_pg(request.getfixturevalue("pg_url"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The image build-and-run test (tests/deploy/test_image.py, minutes cold) first: under `make test`
    (-n 2 --dist loadgroup) one worker takes it while the other runs the rest of the suite."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith("tests/deploy/test_image.py") else 1)
