"""The direct PagerDuty notifier against a real local HTTP server standing in for the Events API v2:
payloads, dedup, no duplicate pages, retries with backoff, 429 Retry-After, timeouts, 5xx, 4xx, and
a routing key that never shows in logs, reprs or errors."""

from __future__ import annotations

import logging
import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from adaptrade.errors import ConfigError
from adaptrade.monitoring.pagerduty import (
    PagerDutyError,
    PagerDutyNotifier,
    dedup_key,
    load_routing_key,
    retry_after_seconds,
)
from adaptrade.settings import Settings, load_settings
from tests.monitoring.receiver import EventsReceiver, Reply

KEY = "R0UTINGKEYR0UTINGKEYR0UTINGKEY32"


@pytest.fixture()
def receiver() -> Iterator[EventsReceiver]:
    rec = EventsReceiver()
    yield rec
    rec.close()


class Sleeps(list[float]):
    """A sleep that records how long it was asked to wait (the backoff schedule), without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def notifier(url: str, sleeps: Sleeps | None = None, **kw: object) -> PagerDutyNotifier:
    return PagerDutyNotifier(KEY, url=url, source="adaptrade-test", timeout=2.0, base_delay=1.0,
                             sleep=sleeps if sleeps is not None else Sleeps(), rng=random.Random(7), **kw)  # type: ignore[arg-type]


def test_trigger_payload_is_what_the_events_api_expects(receiver: EventsReceiver) -> None:
    n = notifier(receiver.url)
    key = dedup_key("drawdown", "run-1", "portfolio")
    d = n.trigger(key, "drawdown 18% past limit 15%", "critical", component="portfolio", group="run-1",
                  event_class="DrawdownPastLimit", details={"drawdown": 0.18})
    assert d.sent and d.status == 202 and d.attempts == 1
    [e] = receiver.events
    assert e["routing_key"] == KEY and e["event_action"] == "trigger" and e["dedup_key"] == key == "adaptrade/drawdown/run-1/portfolio"
    p = e["payload"]
    assert (p["summary"], p["severity"], p["source"]) == ("drawdown 18% past limit 15%", "critical", "adaptrade-test")
    assert (p["component"], p["group"], p["class"], p["custom_details"]) == ("portfolio", "run-1", "DrawdownPastLimit", {"drawdown": 0.18})
    assert datetime.fromisoformat(p["timestamp"]).tzinfo is not None
    long = n.trigger("k2", "x" * 2000, "info")  # summaries are cut to the API's 1024 characters, not refused
    assert long.sent and len(receiver.events[-1]["payload"]["summary"]) == 1024


def test_one_page_per_open_incident_and_a_new_one_after_resolve(receiver: EventsReceiver) -> None:
    n = notifier(receiver.url)
    assert n.trigger("k", "first", "error").sent
    again = n.trigger("k", "second", "error")
    assert not again.sent and again.attempts == 0
    assert n.acknowledge("k").sent
    assert not n.trigger("k", "still open", "error").sent  # acknowledged is still open
    assert n.open_incidents == {"k"}
    assert n.resolve("k").sent and n.open_incidents == set()
    assert n.trigger("k", "again", "error").sent
    assert [e["event_action"] for e in receiver.events] == ["trigger", "acknowledge", "resolve", "trigger"]
    assert all(not e.get("payload") for e in receiver.events if e["event_action"] != "trigger")
    assert receiver.pages() == 2


def test_concurrent_triggers_for_one_incident_send_one_event(receiver: EventsReceiver) -> None:
    receiver.script.append(Reply(delay=0.3))  # the first send is slow, so the others arrive while it is in flight
    n = notifier(receiver.url)
    results = []
    threads = [threading.Thread(target=lambda: results.append(n.trigger("same", "boom", "critical"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(r.sent for r in results) == 1 and len(results) == 8
    assert len(receiver.received) == 1 and receiver.pages() == 1


def test_5xx_is_retried_with_exponential_backoff_and_jitter(receiver: EventsReceiver) -> None:
    receiver.script.extend([Reply(500), Reply(502), Reply(503)])
    sleeps = Sleeps()
    d = notifier(receiver.url, sleeps).trigger("k", "x", "warning")
    assert d.sent and d.attempts == 4
    assert len(receiver.received) == 4 and {r["dedup_key"] for r in receiver.received} == {"k"}
    assert len(sleeps) == 3
    for i, s in enumerate(sleeps):  # base 1 s doubling, each times a factor in [0.5, 1)
        assert 0.5 * 2**i <= s < 2**i
    assert len({round(s / 2**i, 6) for i, s in enumerate(sleeps)}) > 1  # jittered, not a fixed schedule


def test_429_waits_at_least_retry_after(receiver: EventsReceiver) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    receiver.script.extend([Reply(429, headers={"Retry-After": "7"}), Reply(429, headers={"Retry-After": when}), Reply(429)])
    sleeps = Sleeps()
    d = notifier(receiver.url, sleeps).trigger("k", "x", "warning")
    assert d.sent and d.attempts == 4
    assert sleeps[0] >= 7 and 25 <= sleeps[1] <= 31 and sleeps[2] < 4  # no header: plain backoff
    assert retry_after_seconds("12") == 12 and retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_retry_after_longer_than_the_cap_gives_up_instead_of_blocking(receiver: EventsReceiver) -> None:
    receiver.script.append(Reply(429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    n = notifier(receiver.url, sleeps, max_retry_after=120)
    with pytest.raises(PagerDutyError, match="3600 s"):
        n.trigger("k", "x", "critical")
    assert sleeps == [] and len(receiver.received) == 1 and n.open_incidents == set()


def test_timeout_is_retried_and_lands_in_the_same_incident(receiver: EventsReceiver) -> None:
    receiver.script.append(Reply(delay=1.5))  # accepted, but after the client gave up
    sleeps = Sleeps()
    n = notifier(receiver.url, sleeps, max_attempts=3)
    n.timeout = 0.3
    d = n.trigger("k", "slow", "error")
    assert d.sent and d.attempts == 2 and len(sleeps) == 1
    receiver.wait_for(lambda ev: len(ev) == 2, timeout=10)  # both copies arrive, with one dedup key
    assert receiver.pages() == 1


def test_giving_up_leaves_the_incident_closed_so_the_next_trigger_is_sent(receiver: EventsReceiver) -> None:
    receiver.script.extend([Reply(503)] * 3)
    n = notifier(receiver.url, max_attempts=3)
    with pytest.raises(PagerDutyError, match="after 3 attempt"):
        n.trigger("k", "x", "critical")
    assert n.open_incidents == set() and len(receiver.received) == 3
    assert n.trigger("k", "x", "critical").sent and receiver.pages() == 1


def test_refused_event_is_not_retried_and_the_key_never_shows(receiver: EventsReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script.append(Reply(400, body=f'{{"status":"invalid event","errors":["bad key {KEY}"]}}'))
    receiver.script.extend([Reply(503, body=f"overloaded for {KEY}")] * 2)
    n = notifier(receiver.url, max_attempts=2)
    with pytest.raises(PagerDutyError) as refused:
        n.trigger("k", "x", "critical")
    assert "HTTP 400" in str(refused.value) and len(receiver.received) == 1
    with pytest.raises(PagerDutyError) as gave_up:
        n.trigger("k", "x", "critical")
    for text in (str(refused.value), str(gave_up.value), caplog.text, repr(n)):
        assert KEY not in text
    assert "retry 1 of 1" in caplog.text and "**********" in str(gave_up.value)


def test_nothing_listening_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(PagerDutyError, match="ConnectionRefusedError"):
        notifier(f"http://127.0.0.1:{port}/v2/enqueue", sleeps, max_attempts=2).trigger("k", "x", "error")
    assert len(sleeps) == 1


def test_bad_arguments_are_refused_before_sending(receiver: EventsReceiver) -> None:
    n = notifier(receiver.url)
    with pytest.raises(ConfigError, match="severity"):
        n.trigger("k", "x", "sev1")
    with pytest.raises(ConfigError, match="dedup key"):
        n.trigger("k" * 256, "x", "error")
    assert len(dedup_key("run", "r" * 400)) == 255 and dedup_key("run", "r" * 400) != dedup_key("run", "r" * 399)
    assert receiver.received == []


def test_routing_key_from_env_or_file_never_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: EventsReceiver) -> None:
    monkeypatch.setenv("ADAPTRADE_PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.setenv("ADAPTRADE_PAGERDUTY_URL", receiver.url)
    s = load_settings()
    assert load_routing_key(s).get_secret_value() == KEY
    assert KEY not in repr(s) and KEY not in str(s)
    n = PagerDutyNotifier.from_settings(s)
    assert n.url == receiver.url and n.trigger("k", "x", "info").sent and receiver.events[0]["routing_key"] == KEY
    monkeypatch.delenv("ADAPTRADE_PAGERDUTY_ROUTING_KEY")
    f = tmp_path / "routing_key"
    f.write_text(KEY + "\n")
    assert load_routing_key(Settings(pagerduty_routing_key_file=f)).get_secret_value() == KEY
    with pytest.raises(ConfigError, match="not both"):
        load_routing_key(Settings(pagerduty_routing_key_file=f, pagerduty_routing_key=KEY))
    with pytest.raises(ConfigError, match="cannot read") as missing:
        load_routing_key(Settings(pagerduty_routing_key_file=tmp_path / "nope"))
    assert str(tmp_path / "nope") in str(missing.value)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_routing_key(Settings(pagerduty_routing_key_file=tmp_path / "empty"))
    with pytest.raises(ConfigError, match="no PagerDuty routing key"):
        load_routing_key(Settings())


def test_every_event_is_told_to_the_recorder_and_a_broken_recorder_never_stops_a_page(receiver: EventsReceiver,
                                                                                       caplog: pytest.LogCaptureFixture) -> None:
    told: list[dict] = []
    n = notifier(receiver.url, record=told.append)
    key = dedup_key("breaker", "run-9")
    n.trigger(key, "breaker tripped", "critical", event_class="AdaptradeCircuitBreakerTripped", details={"run": "run-9"})
    n.trigger(key, "breaker tripped", "critical")  # suppressed: not sent, not told
    n.acknowledge(key)
    n.resolve(key)
    assert [(t["action"], t["delivered"]) for t in told] == [("trigger", True), ("acknowledge", True), ("resolve", True)]
    assert {t["summary"] for t in told} == {"breaker tripped"} and told[-1]["details"] == {"run": "run-9"}
    assert all(KEY not in repr(t) for t in told)
    receiver.script.append(Reply(status=400))
    with pytest.raises(PagerDutyError):
        n.trigger(dedup_key("bad"), "refused", "error")
    assert told[-1]["delivered"] is False and "HTTP 400" in told[-1]["error"]

    def broken(page: dict) -> None:
        raise RuntimeError(f"store down {KEY}")

    m = notifier(receiver.url, record=broken)
    with caplog.at_level(logging.ERROR, logger="adaptrade.monitoring.pagerduty"):
        assert m.trigger(dedup_key("still", "pages"), "pages anyway", "warning").sent
    assert "not recorded" in caplog.text and KEY not in caplog.text
