"""Redis stopped mid-test (a redis-server this test starts on another loopback port): reads keep
working, /ready and the stream say Redis is down, events published meanwhile are not lost, and the
stream resumes from the last id seen once Redis is back."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.api.conftest import Server, Store, ci, free_port, start_server

pytestmark = pytest.mark.service
REDIS = "/usr/bin/redis-server"


class OwnRedis:
    """redis-server on 127.0.0.1:port with an append-only file in `folder` (so a restart keeps the stream)."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder, self.proc = free_port(), folder, None

    def start(self) -> None:
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                      "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

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


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if not Path(REDIS).exists() and not shutil.which("redis-server"):
        if ci():
            pytest.fail("redis-server not installed (required when CI=true)")
        pytest.skip("redis-server not installed")
    r = OwnRedis(tmp_path)
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
