"""The Alpaca adapter through alpaca-py's own clients against the loopback stand-in server:
order mapping, rejections, partial fills, stream reconnects, reconciliation after a restart."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptrade.errors import ConfigError
from adaptrade.live.alpaca_broker import AlpacaBroker
from adaptrade.live.broker import OrderRequest
from adaptrade.settings import Settings
from tests.live.alpaca_standin.fixtures import standin_settings, wait_for
from tests.live.alpaca_standin.market import StandinMarket
from tests.live.alpaca_standin.server import StandinServer


@pytest.fixture()
def server() -> Iterator[StandinServer]:
    s = StandinServer(StandinMarket(cash=10_000.0)).start()
    yield s
    s.stop()


@pytest.fixture()
def broker(server: StandinServer, tmp_path: Path) -> Iterator[AlpacaBroker]:
    b = AlpacaBroker(tmp_path, standin_settings(server))
    wait_for(lambda: server.stream_connections >= 1, what="trade-update stream")
    yield b
    b.close()


def _buy(cid: str, notional: float = 1000.0, sym: str = "AAPL") -> OrderRequest:
    return OrderRequest(cid, sym, 1, notional=notional, created="2024-01-02")


def _sell(cid: str, qty: float, sym: str = "AAPL") -> OrderRequest:
    return OrderRequest(cid, sym, -1, quantity=qty, created="2024-01-03", reason="exit_signal")


def test_keys_are_required_and_never_shown(tmp_path: Path, server: StandinServer) -> None:
    with pytest.raises(ConfigError, match="ADAPTRADE_ALPACA_KEY_ID"):
        AlpacaBroker(tmp_path, Settings(alpaca_trading_url=server.url))
    b = AlpacaBroker(tmp_path, standin_settings(server), stream=False)
    assert "STANDIN-SECRET" not in repr(b) and "STANDIN-SECRET" not in repr(standin_settings(server))


def test_order_mapping_notional_day_and_shares_opg(server: StandinServer, broker: AlpacaBroker) -> None:
    m = server.market
    rec = broker.submit(_buy("AT-AAPL-20240102-000001", 1234.5))
    assert rec["status"] == "new" and rec["client_order_id"] == "AT-AAPL-20240102-000001"
    o = broker.client.get_order_by_client_id("AT-AAPL-20240102-000001")  # alpaca-py's own model of the stand-in's JSON
    assert (o.notional, o.qty, o.time_in_force.value, o.type.value, o.side.value) == ("1234.5", None, "day", "market", "buy")
    assert [x["client_order_id"] for x in broker.open_orders()] == ["AT-AAPL-20240102-000001"]
    m.sessions["2024-01-03"] = {"AAPL": (100.0, 101.0, True)}
    m.open_session("2024-01-03")
    fills = broker.fills_since(0)
    assert len(fills) == 1 and fills[0]["price"] == 100.0 and math.isclose(fills[0]["quantity"], 12.345)
    assert broker.positions() == pytest.approx({"AAPL": 12.345})
    assert broker.account()["cash"] == pytest.approx(10_000.0 - 1234.5)
    assert broker.order("AT-AAPL-20240102-000001")["status"] == "filled"
    rec = broker.submit(_sell("AT-AAPL-20240103-000002", 12.345))
    o = broker.client.get_order_by_client_id("AT-AAPL-20240103-000002")
    assert (o.qty, o.notional, o.time_in_force.value, o.side.value) == ("12.345", None, "opg", "sell")
    m.sessions["2024-01-04"] = {"AAPL": (110.0, 111.0, True)}
    m.open_session("2024-01-04")
    assert broker.positions() == {} and len(broker.fills_since(0)) == 2
    assert broker.fills_since(1)[0]["side"] == "sell" and broker.fills_since(1)[0]["price"] == 110.0


def test_rejections_at_submission_and_on_the_stream(server: StandinServer, broker: AlpacaBroker) -> None:
    m = server.market
    rec = broker.submit(_sell("AT-AAPL-20240102-000001", 5.0))  # nothing held: Alpaca refuses short sales beyond it
    assert rec["status"] == "rejected" and "insufficient qty" in rec["reject_reason"]
    rec = broker.submit(_buy("AT-AAPL-20240102-000002", 50_000.0))
    assert rec["status"] == "rejected" and "buying power" in rec["reject_reason"]
    assert broker.order("AT-AAPL-20240102-000002")["status"] == "rejected"  # the loop will not send it again
    m.reject_rules["MSFT"] = "stream"  # accepted, then rejected by a trade update
    rec = broker.submit(_buy("AT-MSFT-20240102-000003", 100.0, "MSFT"))
    assert wait_for(lambda: broker.order("AT-MSFT-20240102-000003")["status"] == "rejected", what="async rejection")
    assert broker.open_orders() == [] and broker.fills_since(0) == []


def test_partial_fills_are_recorded_as_they_come(server: StandinServer, broker: AlpacaBroker) -> None:
    m = server.market
    m.positions["AAPL"], m.cost["AAPL"] = 10.0, 1000.0
    broker.submit(_sell("AT-AAPL-20240103-000001", 10.0))
    oid = broker.order("AT-AAPL-20240103-000001")["broker_order_id"]
    m.fill(oid, 100.0, qty=4.0)
    rec = broker.order("AT-AAPL-20240103-000001")
    assert rec["status"] == "partially_filled" and rec["filled_quantity"] == 4.0
    assert [x["client_order_id"] for x in broker.open_orders()] == ["AT-AAPL-20240103-000001"]
    m.fill(oid, 106.0)
    fills = broker.fills_since(0)
    assert [f["quantity"] for f in fills] == [4.0, 6.0]
    assert fills[0]["price"] == 100.0 and fills[1]["price"] == pytest.approx(106.0, rel=1e-12)
    assert broker.order("AT-AAPL-20240103-000001")["avg_fill_price"] == pytest.approx(103.6)
    assert broker.positions() == {}


def test_stream_reconnects_and_rest_recovers_what_it_missed(server: StandinServer, broker: AlpacaBroker) -> None:
    m = server.market
    m.sessions["2024-01-03"] = {"AAPL": (100.0, 100.0, True), "MSFT": (50.0, 50.0, True)}
    broker.submit(_buy("AT-AAPL-20240102-000001", 500.0))
    wait_for(lambda: broker.stream_events >= 1, what="the 'new' update on the stream")
    before = broker.stream_events
    assert server.drop_streams() == 1
    wait_for(lambda: not server.queues, what="the drop")
    m.open_session("2024-01-03")  # fills while the stream is down: no update reaches the adapter
    assert broker.stream_events == before
    fills = broker.fills_since(0)  # REST is the truth: the fill is recovered from the order's cumulative state
    assert len(fills) == 1 and fills[0]["quantity"] == pytest.approx(5.0)
    wait_for(lambda: server.stream_connections >= 2 and server.queues, what="alpaca-py's reconnect")
    broker.submit(_buy("AT-MSFT-20240103-000002", 100.0, "MSFT"))
    wait_for(lambda: broker.stream_events > before, what="updates after the reconnect")
    assert len(broker.fills_since(0)) == 1  # no fill recorded twice by stream and sweep


def test_restart_reconciles_by_client_order_id_and_never_posts_twice(server: StandinServer, tmp_path: Path) -> None:
    m = server.market
    a = AlpacaBroker(tmp_path, standin_settings(server), stream=False)
    a.submit(_buy("AT-AAPL-20240102-000001", 100.0))
    a.submit(_buy("AT-MSFT-20240102-000002", 100.0, "MSFT"))
    # a crash between recording the intent and the POST: the ledger knows the id, Alpaca does not
    import json

    book = json.loads((tmp_path / "alpaca.json").read_text())
    book["orders"]["AT-NVDA-20240102-000003"] = {"recorded_qty": 0.0, "recorded_notional": 0.0, "status": "pending"}
    (tmp_path / "alpaca.json").write_text(json.dumps(book))
    del a  # the process dies with two orders open at the broker
    b = AlpacaBroker(tmp_path, standin_settings(server), stream=False)
    assert sorted(o["client_order_id"] for o in b.open_orders()) == ["AT-AAPL-20240102-000001", "AT-MSFT-20240102-000002"]
    for cid, sym in (("AT-AAPL-20240102-000001", "AAPL"), ("AT-MSFT-20240102-000002", "MSFT"), ("AT-NVDA-20240102-000003", "NVDA")):
        rec = b.submit(_buy(cid, 100.0, sym))  # the restarted loop resubmits whatever it had not seen acknowledged
        assert rec["status"] == "new"
    assert sorted(m.posted_client_ids) == ["AT-AAPL-20240102-000001", "AT-MSFT-20240102-000002", "AT-NVDA-20240102-000003"]
    assert len(m.orders) == 3
    # even with the ledger lost, Alpaca's unique client order id refuses a second order
    c = AlpacaBroker(tmp_path / "other", standin_settings(server), stream=False) if (tmp_path / "other").mkdir() is None else None
    assert c is not None
    rec = c.submit(_buy("AT-AAPL-20240102-000001", 100.0))
    assert rec.get("duplicate") and rec["status"] == "new" and len(m.orders) == 3
    assert b.cancel_all() == 3 and b.open_orders() == []
