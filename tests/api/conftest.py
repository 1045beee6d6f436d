"""The service under test: a real store on each backend (a DuckDB file, a fresh PostgreSQL database) holding real small runs, real Redis on 127.0.0.1:6379
(a unique key prefix per session, deleted afterwards), uvicorn on a free loopback port in a thread."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TOKEN = "test-token-" + uuid.uuid4().hex  # long and unique, so finding it in a log means it leaked
REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ("duckdb", "postgresql")


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LogCapture(logging.Handler):
    """Every record of the uvicorn and adaptrade loggers, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Server:
    url: str
    settings: Any
    service: Any
    uvicorn: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(timeout=15)


def start_server(settings: Any) -> Server:
    """create_app(settings) under uvicorn on a free loopback port, in a daemon thread; waits until it answers."""
    import requests
    import uvicorn

    from adaptrade.api.app import build_service, create_app

    svc = build_service(settings)
    app = create_app(settings, svc)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="debug", access_log=True, log_config=None,
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/v1/health", timeout=1).ok:
                return Server(url, settings, svc, server, thread)
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


REDIS_SERVER = "/usr/bin/redis-server"


class OwnRedis:
    """redis-server on 127.0.0.1:port, started and stopped by a test: with an append-only file in `folder`
    (`persist`: a restart keeps what it held), else empty after every restart. Not installed: skipped
    locally, failed under CI=true."""

    def __init__(self, folder: Path, persist: bool = True) -> None:
        binary = REDIS_SERVER if Path(REDIS_SERVER).exists() else shutil.which("redis-server")
        if binary is None:
            if ci():
                pytest.fail("redis-server not installed (required when CI=true)")
            pytest.skip("redis-server not installed")
        self.binary, self.port, self.folder, self.persist, self.proc = binary, free_port(), folder, persist, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes" if self.persist else "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A key prefix of this session on the real Redis; every key under it is deleted at the end."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        msg = f"Redis not reachable at {REDIS_URL}: {exc}"
        if ci():
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    prefix = f"adaptrade-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass(frozen=True)
class Store:
    target: str  # a DuckDB file path or a postgresql:// URL
    backend: str
    synthetic_run: str
    archive_run: str
    symbols: list[str]
    archive_symbols: list[str]

    def db(self) -> dict[str, Any]:
        """Settings overrides that point the service at this store."""
        from adaptrade.storage.backend import db_overrides

        return db_overrides(self.target)


@pytest.fixture(scope="session")
def made_runs(sample_dir: Path) -> tuple[Any, Any]:
    """Two real runs, made once and saved into each backend's store: synthetic (8 stocks x 1,260 bars)
    and the shipped sample (3 stocks)."""
    from adaptrade.parallel.runner import RunRequest, run
    from adaptrade.settings import Settings

    settings = Settings(executor="serial", data_dir=sample_dir)
    syn, _ = run(RunRequest(source="synthetic", stocks=8, bars=1260, seed=11), settings)
    arch, _ = run(RunRequest(source="archive", symbols=("AAPL", "MSFT", "NVDA"), universe=None, stocks=None,
                             data_dir=sample_dir, start="2021-01-04", end="2023-12-29"), settings)
    return syn, arch


@pytest.fixture(scope="session")
def api_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own for the service tests (tests/storage empties the shared
    session database per test), dropped afterwards. Skipped when PostgreSQL is unreachable; a failure under CI=true."""
    import secrets

    from tests.conftest import PG_ADMIN

    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001
        if ci():
            pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN} (required when CI=true): {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}")
    name = f"adaptrade_api_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, made_runs: tuple[Any, Any]) -> Store:
    """A store on each backend (a DuckDB file; a fresh PostgreSQL database) holding the two runs and the
    synthetic run's quality scores."""
    from adaptrade.reports.files import summary
    from adaptrade.storage.runs import RunStore
    from adaptrade.storage.scores import ScoreStore
    from adaptrade.universe.scoring import quality_scores

    syn, arch = made_runs
    if request.param == "duckdb":
        target = str(tmp_path_factory.mktemp("api") / "runs.duckdb")
    else:
        target = request.getfixturevalue("api_pg_url")
    with RunStore(target) as rs:
        syn_id = rs.save(syn, summary(syn))
        arch_id = rs.save(arch, summary(arch))
    with ScoreStore(target) as ss:
        ss.save(quality_scores(syn.stocks), syn_id, cycle=1, period=("2022-01-03", "2023-06-30"), formula="test", source="synthetic")
    return Store(target, request.param, syn_id, arch_id, syn.stocks["symbol"].tolist(), arch.stocks["symbol"].tolist())


@pytest.fixture(scope="session")
def logs() -> Iterator[LogCapture]:
    cap = LogCapture()
    cap.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "adaptrade", "adaptrade.api")
    for n in names:
        logging.getLogger(n).addHandler(cap)
        logging.getLogger(n).setLevel(logging.DEBUG)
    yield cap
    for n in names:
        logging.getLogger(n).removeHandler(cap)


@pytest.fixture(scope="session")
def server(store: Store, redis_prefix: str, sample_dir: Path, logs: LogCapture) -> Iterator[Server]:
    """The service on the real store and Redis, token set, small rate limit, batches of 2 stocks."""
    from pydantic import SecretStr

    from adaptrade.settings import Settings

    settings = Settings(**store.db(), data_dir=sample_dir, redis_url=REDIS_URL, redis_prefix=redis_prefix,
                        api_token=SecretStr(TOKEN), api_job_starts_per_minute=30,
                        executor="serial", api_job_workers=2, batch_size=2)  # small jobs still run in several batches
    srv = start_server(settings)
    yield srv
    srv.stop()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def wait_job(url: str, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll GET /backtests/{id} until the job leaves queued/running."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = requests.get(f"{url}/api/v1/backtests/{job_id}", timeout=5).json()
        if j["state"] not in ("queued", "running"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still running after {timeout} s")
