"""The paper endpoints through real uvicorn: a per-stock replay session runs in a subprocess (slowed by
ADAPTRADE_PAPER_EVENT_DELAY); the API reads its positions and orders from the session's files, refuses
the kill switch without the token (401/403) and, with it, cancels the open orders so the session ends killed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.conftest import REDIS_URL, TOKEN, Server, auth, start_server
from tests.live.helpers import journal_lines, replay_args, start_paper

pytestmark = pytest.mark.service


@pytest.fixture()
def paper_server(tmp_path: Path, redis_prefix: str) -> Iterator[Server]:
    """The service with its own DuckDB store and the paper folder of the subprocess below."""
    from pydantic import SecretStr

    from adaptrade.settings import Settings

    settings = Settings(db_path=tmp_path / "runs.duckdb", db_url=None, redis_url=REDIS_URL, redis_prefix=redis_prefix,
                        api_token=SecretStr(TOKEN), paper_dir=tmp_path / "paper", executor="serial")
    srv = start_server(settings)
    yield srv
    srv.stop()


def test_unknown_session_is_404_problem(paper_server: Server) -> None:
    for method, path in (("get", "positions"), ("get", "orders"), ("post", "kill")):
        r = requests.request(method, f"{paper_server.url}/api/v1/paper/{path}", params={"session": "nope"}, headers=auth(), timeout=5)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 404 and "nope" in r.json()["detail"]
    r = requests.get(f"{paper_server.url}/api/v1/paper/orders", params={"session": "../x"}, timeout=5)
    assert r.status_code == 422 and "session" in r.json()["detail"]


@pytest.mark.slow  # ~18 s: the session is slowed so an order is open when the API kills it
def test_positions_orders_and_kill_through_the_api(paper_server: Server, sample_dir: Path, tmp_path: Path) -> None:
    url = paper_server.url + "/api/v1/paper"
    args = [*replay_args(sample_dir, "AAPL,MSFT", "2018-01-01", "2019-12-31"), "--session", "api"]
    proc = start_paper(tmp_path, args, delay=0.5)
    folder = tmp_path / "paper" / "api"
    try:
        deadline = time.monotonic() + 300
        while not any(e["event"] == "ack" for e in journal_lines(folder)):  # an order sits at the broker
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.05)
        acked = [e["client_order_id"] for e in journal_lines(folder) if e["event"] == "ack"]
        orders = requests.get(f"{url}/orders", params={"session": "api"}, timeout=5).json()
        assert orders["session"]["running"] and orders["session"]["status"] == "running"
        assert orders["session"]["symbols"] == ["AAPL", "MSFT"] and not orders["session"]["kill_switch"]
        by_id = {o["client_order_id"]: o for o in orders["orders"]}
        assert set(acked) <= set(by_id)
        assert by_id[acked[0]]["symbol"] in ("AAPL", "MSFT") and by_id[acked[0]]["time_in_force"] == "opg"
        pos = requests.get(f"{url}/positions", params={"session": "api"}, timeout=5).json()
        book = json.loads((folder / "broker.json").read_text())
        assert pos["cash"] == pytest.approx(book["cash"])
        assert {p["symbol"]: p["quantity"] for p in pos["positions"]} == {s: q for s, q in book["positions"].items() if q}

        assert requests.post(f"{url}/kill", params={"session": "api"}, timeout=5).status_code == 401
        bad = requests.post(f"{url}/kill", params={"session": "api"}, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}, timeout=5)
        assert bad.status_code == 403 and bad.headers["content-type"].startswith("application/problem+json")
        assert not (folder / "kill").exists() and proc.poll() is None  # refused calls changed nothing

        r = requests.post(f"{url}/kill", params={"session": "api"}, headers=auth(), timeout=5)
        assert r.status_code == 200, r.text
        assert r.json()["kill_switch"] is True and r.json()["cancelled"] >= 0
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "session killed" in proc.stdout.read().decode()  # type: ignore[union-attr]
    book = json.loads((folder / "broker.json").read_text())
    acked = [e["client_order_id"] for e in journal_lines(folder) if e["event"] == "ack"]
    assert book["submissions"] == acked  # nothing sent after the switch
    orders = requests.get(f"{url}/orders", params={"session": "api"}, timeout=5).json()
    assert orders["session"]["status"] == "killed" and orders["session"]["kill_switch"] and not orders["session"]["running"]
    assert not [o for o in orders["orders"] if o["open"]]
    assert {o["client_order_id"]: o["status"] for o in orders["orders"]}[acked[-1]] == "cancelled"
    assert requests.get(f"{url}/orders", params={"session": "api", "open": "true"}, timeout=5).json()["orders"] == []
