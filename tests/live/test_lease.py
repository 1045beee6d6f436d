"""live/lease.py against a STAND-IN for the Kubernetes API server: a tiny loopback HTTP server that
implements only the Lease get/create/update semantics (404 when absent, 409 on create of an existing
Lease or on an update whose resourceVersion is stale). No cluster runs here; the manifests' side is
tests/deploy/test_k8s.py."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adaptrade.live.lease import ClusterGuardedLease, KubeLease, LeaseLost

NS, NAME = "adaptrade", "adaptrade-paper"
PREFIX = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"


class StandInApiServer(ThreadingHTTPServer):
    """Leases in a dict, optimistic concurrency by resourceVersion, bearer token required."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.leases: dict[str, dict[str, Any]] = {}
        self.version, self.lock = 0, threading.Lock()
        self.tokens: list[str | None] = []


class Handler(BaseHTTPRequestHandler):
    server: StandInApiServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _reply(self, code: int, body: dict | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        self.server.tokens.append(self.headers.get("Authorization"))
        lease = self.server.leases.get(self.path.removeprefix(PREFIX + "/"))
        self._reply(200, lease) if lease else self._reply(404)

    def do_POST(self) -> None:
        assert self.path == PREFIX
        body = self._body()
        with self.server.lock:
            name = body["metadata"]["name"]
            if name in self.server.leases:
                return self._reply(409)
            self.server.version += 1
            body["metadata"]["resourceVersion"] = str(self.server.version)
            self.server.leases[name] = body
        self._reply(201, body)

    def do_PUT(self) -> None:
        body, name = self._body(), self.path.removeprefix(PREFIX + "/")
        with self.server.lock:
            current = self.server.leases.get(name)
            if current is None:
                return self._reply(404)
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return self._reply(409)
            self.server.version += 1
            body["metadata"]["resourceVersion"] = str(self.server.version)
            self.server.leases[name] = body
        self._reply(200, body)


@pytest.fixture()
def api() -> Any:
    srv = StandInApiServer()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def lease(api: StandInApiServer, who: str, duration: int = 3) -> KubeLease:
    return KubeLease(f"http://127.0.0.1:{api.server_address[1]}", NS, NAME, who, duration, token="t0k")


def test_one_holder_at_a_time_and_a_takeover_only_after_expiry(api: StandInApiServer) -> None:
    a, b = lease(api, "pod-a"), lease(api, "pod-b")
    assert a.try_acquire() and a.held()  # created (404 -> POST)
    assert api.leases[NAME]["spec"]["holderIdentity"] == "pod-a" and api.tokens[0] == "Bearer t0k"
    assert not b.try_acquire()  # held and fresh
    with pytest.raises(LeaseLost, match="held by another"):
        b.acquire(wait=0.5)
    assert a.try_acquire()  # renewing our own lease keeps acquireTime, moves renewTime
    time.sleep(3.2)  # a stops renewing (crashed, partitioned): the lease expires
    assert b.try_acquire() and api.leases[NAME]["spec"]["holderIdentity"] == "pod-b"
    assert api.leases[NAME]["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire()


def test_a_stale_update_loses_the_race(api: StandInApiServer) -> None:
    a = lease(api, "pod-a")
    assert a.try_acquire()
    api.leases[NAME]["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z"  # expired
    stale = json.loads(json.dumps(api.leases[NAME]))
    assert lease(api, "pod-b").try_acquire()  # b updates first: resourceVersion moves on
    c = lease(api, "pod-c")
    code, _ = c._call("PUT", f"{c.url}/{NAME}", {**stale, "spec": c._spec(stale["spec"])})
    assert code == 409  # an update with the resourceVersion read before b's write is refused


class FileLease:
    """The session's file lease stand-in: records calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def acquire(self, session: str) -> None:
        self.calls.append("acquire")

    def beat(self, **fields: Any) -> None:
        self.calls.append("beat")

    def release(self) -> None:
        self.calls.append("release")


def test_the_guard_renews_in_the_background_stops_when_lost_and_hands_back(api: StandInApiServer) -> None:
    local = FileLease()
    guard = ClusterGuardedLease(local, lease(api, "pod-a", duration=3))
    guard.acquire("default")
    time.sleep(2.5)  # past the 2 s margin of held(): only the background renewal (every 1 s) keeps it
    guard.beat(session_date="2024-01-02")
    assert local.calls == ["acquire", "beat"]
    api.leases[NAME]["spec"]["holderIdentity"] = "pod-b"  # taken over behind our back
    api.leases[NAME]["spec"]["renewTime"] = api.leases[NAME]["spec"]["renewTime"].replace("20", "30", 1)  # far future
    time.sleep(1.5)
    with pytest.raises(LeaseLost, match="lost Lease"):
        guard.beat(session_date="2024-01-03")
    guard.release()
    assert local.calls[-1] == "release" and api.leases[NAME]["spec"]["holderIdentity"] == "pod-b"
    b = lease(api, "pod-b")
    api.leases[NAME]["spec"]["holderIdentity"] = "pod-a"
    api.leases[NAME]["spec"]["renewTime"] = api.leases[NAME]["spec"]["renewTime"].replace("30", "20", 1)
    a = lease(api, "pod-a", duration=3)
    assert a.try_acquire()
    a.release()  # hands back: the holder is cleared, so b need not wait for expiry
    assert api.leases[NAME]["spec"]["holderIdentity"] is None and b.try_acquire()
