"""Redis stopped mid-test (a redis-server this test starts on another loopback port): reads keep
working, /ready and the stream say Redis is down, events published meanwhile are not lost, and the
stream resumes from the last id seen once Redis is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.api.conftest import OwnRedis, Server, Store, start_server

pytestmark = pytest.mark.service


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path)  # append-only: a restart keeps the stream
    r.start()
    yield r
    r.stop()


def test_reads_survive_redis_going_away_and_the_stream_resumes(own_redis: OwnRedis, store: Store, sample_dir: Path,
                                                               server: Server) -> None:
    from adaptrade.settings import Settings

    settings = Settings(**store.db(), data_dir=sample_dir, redis_url=f"redis://127.0.0.1:{own_redis.port}/0",
                        redis_prefix="down-test", executor="serial")
    srv = start_server(settings)
    try:
        url, bus = srv.url + "/api/v1", srv.service.bus
        assert requests.get(url + "/ready", timeout=5).json()["redis"]["ok"] is True
        seen = bus.publish("alert", {"name": "before"})
        assert seen is not None

        own_redis.stop()
        assert requests.get(url + "/runs", timeout=5).json()["page"]["total"] >= 2
        assert requests.get(f"{url}/runs/{store.synthetic_run}/stocks", timeout=5).json()["page"]["total"] == 8
        r = requests.get(url + "/ready", timeout=5)
        assert r.status_code == 503
        body = r.json()
        assert body["store"]["ok"] is True and body["redis"]["ok"] is False and "does not answer" in body["redis"]["detail"]
        with connect(srv.url.replace("http", "ws") + f"/api/v1/stream?last_id={seen}") as ws:
            msg = json.loads(ws.recv(timeout=10))
        assert msg["kind"] == "error" and "Redis is not available" in msg["detail"]
        assert bus.publish("alert", {"name": "while-down"}) is None and bus.pending == 1

        own_redis.start()
        r = requests.get(url + "/ready", timeout=5)
        assert r.status_code == 200 and r.json()["pending_events"] == 0
        with connect(srv.url.replace("http", "ws") + f"/api/v1/stream?last_id={seen}") as ws:
            assert json.loads(ws.recv(timeout=10))["kind"] == "hello"
            got = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        assert [g["data"]["name"] for g in got] == ["while-down", "redis_back"]
    finally:
        srv.stop()
