"""The event bus on Redis Streams (one bounded stream) and the latest-state cache beside it.

Events (job progress, fills, parameter changes, equity updates, alerts) are JSON in field `data`
of stream `<prefix>:events`, trimmed to about `maxlen` entries. When Redis is down, published
events wait in a bounded in-memory outbox and are sent, in order, once it is back; the store stays
the record of runs.

The cache holds JSON documents under `<prefix>:<name>`, each with a TTL: job states (`job:<id>`),
the latest scores (`scores:latest`) and paper positions (`paper:<session>:positions`); what writes
and reads them, and how it is rebuilt when Redis comes back, is api/cache.py. Every cache call is best
effort: Redis down means a miss, never an error.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from typing import Any

import redis

log = logging.getLogger("adaptrade.api")
EVENT_KINDS = ("job", "fill", "param", "equity", "alert")
OUTBOX_MAX = 10_000
_TIMEOUT = 0.5
JOB_TTL = 7 * 86400  # seconds a cached job state is kept
POSITIONS_TTL = 7 * 86400  # a paper session's cached positions


def redacted(url: str) -> str:
    """The URL without a password (for logs and /ready)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class EventBus:
    """Publish events to the stream and cache job states; every call survives Redis being down."""

    def __init__(self, url: str, prefix: str, maxlen: int) -> None:
        self.url, self.prefix, self.maxlen = url, prefix, maxlen
        self.stream = f"{prefix}:events"
        self._client = redis.Redis.from_url(url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT, decode_responses=True)
        self._outbox: deque[tuple[str, str]] = deque(maxlen=OUTBOX_MAX)
        self._lock = threading.Lock()

    def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def publish(self, kind: str, data: dict[str, Any]) -> str | None:
        """Append one event; its stream id, or None when Redis is down (the event waits in the outbox)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r} ({', '.join(EVENT_KINDS)})")
        payload = json.dumps(data, default=str, allow_nan=False)
        with self._lock:
            self._outbox.append((kind, payload))
            return self._flush()

    def _flush(self) -> str | None:
        last = None
        try:
            while self._outbox:
                kind, payload = self._outbox[0]
                last = self._client.xadd(self.stream, {"kind": kind, "data": payload}, maxlen=self.maxlen, approximate=True)
                self._outbox.popleft()
        except redis.RedisError:
            return None
        return last

    @property
    def pending(self) -> int:
        """Events waiting for Redis."""
        return len(self._outbox)

    def put(self, name: str, doc: Any, ttl: int) -> bool:
        """Cache `doc` as JSON in `<prefix>:<name>` for `ttl` seconds; False when Redis is down."""
        try:
            self._client.set(f"{self.prefix}:{name}", json.dumps(doc, default=str), ex=ttl)
        except redis.RedisError:
            return False
        return True

    def get(self, name: str) -> Any:
        """The cached document `<prefix>:<name>`, or None (absent, expired, or Redis down)."""
        try:
            raw = self._client.get(f"{self.prefix}:{name}")
        except redis.RedisError:
            return None
        return json.loads(raw) if raw else None

    def has(self, name: str) -> bool:
        """Whether `<prefix>:<name>` exists (False when Redis is down)."""
        try:
            return bool(self._client.exists(f"{self.prefix}:{name}"))
        except redis.RedisError:
            return False

    def cache_job(self, job: dict[str, Any]) -> None:
        """Keep the latest state of a job in `<prefix>:job:<id>` (best effort)."""
        self.put(f"job:{job['id']}", job, JOB_TTL)

    def cached_job(self, job_id: str) -> dict[str, Any] | None:
        """A job's cached state (e.g. from before a restart), or None."""
        return self.get(f"job:{job_id}")

    def cache_positions(self, session: str, doc: dict[str, Any]) -> None:
        """Keep a paper session's GET /paper/positions document in `<prefix>:paper:<session>:positions` (best
        effort; called by the service when it serves one, and by a `paper run` process as it trades)."""
        self.put(f"paper:{session}:positions", doc, POSITIONS_TTL)

    def cached_positions(self, session: str) -> dict[str, Any] | None:
        """A paper session's cached positions document, or None."""
        return self.get(f"paper:{session}:positions")

    def close(self) -> None:
        self._client.close()


def parse_entry(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry as the JSON event the WebSocket sends: id, kind, data."""
    try:
        data = json.loads(fields.get("data", "null"))
    except ValueError:
        data = None
    return {"id": entry_id, "kind": fields.get("kind", ""), "data": data}
