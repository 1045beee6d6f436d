"""Fixtures shared by the paper-trading tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture()
def bus() -> Iterator[object]:
    """An event bus on the real Redis under a fresh stream name (dropped after); fails under CI=true without Redis."""
    import redis

    from adaptrade.api.events import EventBus
    from tests.api.conftest import REDIS_URL, ci

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        (pytest.fail if ci() else pytest.skip)(f"Redis not reachable at {REDIS_URL}: {exc}")
    b = EventBus(REDIS_URL, f"adaptrade-test-{uuid.uuid4().hex[:12]}", 100_000)
    yield b
    client.delete(b.stream)
    b.close()
