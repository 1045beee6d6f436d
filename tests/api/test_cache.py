"""The latest-state cache in Redis (api/cache.py): GET /scores gives the same rows from the cache as from the
store (and really reads the cache when it is fresh), paper positions are cached by the session as it trades
and by the service as it serves them, and a Redis that comes back empty (restarted, flushed) gets the cache
rebuilt from the store and the paper folder without anyone calling /ready."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.conftest import REDIS_URL, OwnRedis, Server, Store, start_server

pytestmark = pytest.mark.service
API = "/api/v1"


def _scores(url: str, source: str | None = None) -> dict[str, Any]:
    r = requests.get(f"{url}{API}/scores", params={"source": source} if source else {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _positions(url: str, session: str) -> requests.Response:
    return requests.get(f"{url}{API}/paper/positions", params={"session": session}, timeout=10)


def paper_session(folder: Path, sample_dir: Path, mode: str = "per-stock", bus: Any = None) -> Any:
    """A short real paper session (the shipped sample, AAPL and MSFT, 2021-01 .. 2022-06) replayed to its end in this process,
    with the session hooks on `bus` (None: files only); returns the hooks (finish() not called yet)."""
    from adaptrade.live.broker import SimBroker
    from adaptrade.live.feeds import ReplayFeed
    from adaptrade.live.loop import PaperLoop
    from adaptrade.live.portfolio_loop import PortfolioPaperLoop
    from adaptrade.live.session_hooks import SessionHooks
    from adaptrade.live.state import Lease
    from adaptrade.risk.limits import RiskLimits
    from tests.live.alpaca_standin.fixtures import sample_bars

    bars, cfg = sample_bars(sample_dir, "AAPL,MSFT", "2021-01-04", "2022-06-30")
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"symbols": list(bars.symbols), "broker": "sim", **({"mode": "portfolio"} if mode == "portfolio" else {})}
    if mode == "portfolio":
        loop: Any = PortfolioPaperLoop(folder, ReplayFeed(bars), cfg, RiskLimits(kelly_fraction=0.0), meta)  # sized at once
    else:
        broker = SimBroker(folder, cfg.initial_cash * bars.n_symbols, cfg.commission_bps, cfg.slippage_bps, fsync=False)
        loop = PaperLoop(folder, ReplayFeed(bars), cfg, broker, meta, fsync=False)
    hooks = SessionHooks(folder.name, None, bus)
    hooks.attach(loop)
    lease = Lease(folder)
    lease.acquire(folder.name)
    try:
        assert loop.run(lease) == "done"
    finally:
        lease.release()
        if hasattr(loop, "close"):
            loop.close()
        if hasattr(loop, "broker"):
            loop.broker.close()
    return hooks


def test_scores_are_the_same_from_the_cache_and_from_the_store(server: Server) -> None:
    url, svc, client = server.url, server.service, server.service.bus._client
    key = f"{svc.settings.redis_prefix}:scores:latest"
    client.delete(key)
    from_store = {s: _scores(url, s) for s in (None, "synthetic", "archive")}  # no cache: read from the store ...
    cached = json.loads(client.get(key))  # ... which wrote the cache
    assert cached["version"] == svc.store.scores_version() and cached["version"][0] > 0
    assert from_store[None]["scores"] and from_store["synthetic"]["scores"] == from_store[None]["scores"]
    assert from_store["archive"]["scores"] == []  # the fixture's scores are of the synthetic run
    assert {s: _scores(url, s) for s in (None, "synthetic", "archive")} == from_store  # from the cache: identical

    rows = cached["rows"]
    client.set(key, json.dumps({"version": cached["version"], "rows": rows[:1]}))  # a fresh cache is what answers
    assert [x["symbol"] for x in _scores(url)["scores"]] == [rows[0]["symbol"]]
    client.set(key, json.dumps({"version": [cached["version"][0] - 1, "2000-01-01"], "rows": rows[:1]}))  # a stale one is not
    assert _scores(url) == from_store[None]
    assert json.loads(client.get(key)) == cached  # and was rewritten from the store


@pytest.mark.parametrize("mode", ["per-stock", "portfolio"])
def test_paper_positions_cached_by_the_session_and_served_for_another_host(tmp_path: Path, sample_dir: Path, redis_prefix: str,
                                                                            mode: str) -> None:
    from adaptrade.api.events import EventBus
    from adaptrade.settings import Settings

    prefix = f"{redis_prefix}:{mode}"
    bus = EventBus(REDIS_URL, prefix, 1000)
    name = f"pos-{mode}"
    try:
        hooks = paper_session(tmp_path / "paper" / name, sample_dir, mode, bus)
        during = bus.cached_positions(name)  # written while it traded
        assert during is not None and during["session"]["running"] is True
        hooks.finish()
        final = bus.cached_positions(name)
    finally:
        bus.close()
    assert final["session"]["running"] is False and final["session"]["status"] == "done"
    assert final["session"]["mode"] == mode and final["positions"], "this session ends holding stocks"

    settings = Settings(db_path=tmp_path / "runs.duckdb", db_url=None, redis_url=REDIS_URL, redis_prefix=prefix,
                        paper_dir=tmp_path / "paper", executor="serial")
    srv = start_server(settings)
    try:
        r = _positions(srv.url, name)
        assert r.status_code == 200 and r.json() == final  # the files, as the API reads them, say what the session cached
        (tmp_path / "paper" / name).rename(tmp_path / "elsewhere")  # the session's folder is on another host now
        r = _positions(srv.url, name)
        assert r.status_code == 200 and r.json() == final  # answered from the cache
        assert _positions(srv.url, "never-ran").status_code == 404
    finally:
        srv.stop()


@pytest.fixture()
def empty_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path, persist=False)  # every restart comes back empty
    r.start()
    yield r
    r.stop()


def _wait_for(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "not rebuilt in time"
        time.sleep(0.05)


def test_the_cache_is_rebuilt_from_the_store_when_redis_comes_back_empty(empty_redis: OwnRedis, store: Store, sample_dir: Path,
                                                                          tmp_path: Path) -> None:
    import redis

    from adaptrade.settings import Settings

    paper_session(tmp_path / "paper" / "rebuilt", sample_dir)  # files only: the service is what caches it
    settings = Settings(**store.db(), data_dir=sample_dir, redis_url=empty_redis.url, redis_prefix="rebuild-test",
                        paper_dir=tmp_path / "paper", executor="serial", redis_check_seconds=0.2)
    srv = start_server(settings)
    client = redis.Redis.from_url(empty_redis.url, decode_responses=True)
    keys = {"rebuild-test:cache", "rebuild-test:scores:latest", "rebuild-test:paper:rebuilt:positions"}
    try:
        assert keys <= set(client.keys("rebuild-test:*"))  # written at start
        scores, positions = _scores(srv.url), _positions(srv.url, "rebuilt").json()
        assert scores["scores"] and positions["positions"]

        empty_redis.stop()
        assert _scores(srv.url) == scores and _positions(srv.url, "rebuilt").json() == positions  # the record answers
        _wait_for(lambda: srv.service.redis_was_down)  # the watch saw it go (no /ready call in this test)
        empty_redis.start()
        client = redis.Redis.from_url(empty_redis.url, decode_responses=True)
        _wait_for(lambda: keys <= set(client.keys("rebuild-test:*")))
        cached = json.loads(client.get("rebuild-test:scores:latest"))
        assert cached == {"version": srv.service.store.scores_version(), "rows": srv.service.store.latest_scores(None)}
        assert json.loads(client.get("rebuild-test:paper:rebuilt:positions")) == positions
        assert 0 < client.ttl("rebuild-test:scores:latest") <= 86400
        assert _scores(srv.url) == scores and _positions(srv.url, "rebuilt").json() == positions

        client.flushdb()  # emptied while it stays up: the missing marker says so
        _wait_for(lambda: keys <= set(client.keys("rebuild-test:*")))
        assert _scores(srv.url) == scores
    finally:
        srv.stop()
