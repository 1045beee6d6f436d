"""A local stand-in for PagerDuty's Events API v2 on 127.0.0.1 (a free port the OS picks).

It checks each event the way the Events API documents (routing key, event_action, dedup_key, payload
summary/source/severity), answers 202 or 400 like it, folds accepted events into incidents by dedup
key, and can be scripted to fail the next requests (slow answers, 5xx, 429 with Retry-After).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Reply:
    """How to answer one request: after `delay` seconds, `status` with `headers` and `body` (None: judge the event)."""

    status: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


def problems(event: Any) -> list[str]:
    """Why the Events API would refuse `event` (empty when it is valid)."""
    if not isinstance(event, dict):
        return ["body is not a JSON object"]
    errs = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errs.append("routing_key must be a 32-character string")
    action = event.get("event_action")
    if action not in ACTIONS:
        errs.append(f"event_action must be one of {ACTIONS}")
    dedup = event.get("dedup_key")
    if action in ("acknowledge", "resolve") and not dedup:
        errs.append("dedup_key is required for acknowledge and resolve")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errs.append("dedup_key must be a string of at most 255 characters")
    if action == "trigger":
        p = event.get("payload")
        if not isinstance(p, dict):
            return errs + ["payload is required for trigger"]
        if not isinstance(p.get("summary"), str) or not p["summary"] or len(p["summary"]) > 1024:
            errs.append("payload.summary must be 1..1024 characters")
        if not isinstance(p.get("source"), str) or not p["source"]:
            errs.append("payload.source is required")
        if p.get("severity") not in SEVERITIES:
            errs.append(f"payload.severity must be one of {SEVERITIES}")
    return errs


class EventsReceiver:
    """The stand-in server; `events` holds accepted events, `received` every request body."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.script: deque[Reply] = deque()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner._answer(self, raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v2/enqueue"

    def _answer(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        with self.lock:
            self.received.append(event if isinstance(event, dict) else {"raw": raw.decode("utf-8", "replace")})
            reply = self.script.popleft() if self.script else Reply()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status is not None:
            self._send(h, reply.status, reply.body or json.dumps({"status": "error"}), reply.headers)
            return
        errs = problems(event)
        if errs:
            self._send(h, 400, json.dumps({"status": "invalid event", "message": "Event object is invalid", "errors": errs}))
            return
        with self.lock:
            self.events.append(event)  # type: ignore[arg-type]
        self._send(h, 202, json.dumps({"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}))  # type: ignore[union-attr]

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:  # the client gave up (timed out) before the answer
            pass

    def pages(self) -> int:
        """Incidents opened, as PagerDuty counts them: a trigger pages unless its dedup key is already open."""
        open_keys: set[tuple[str, str]] = set()
        pages = 0
        with self.lock:
            events = list(self.events)
        for e in events:
            k = (e["routing_key"], e.get("dedup_key") or "")
            if e["event_action"] == "trigger" and k not in open_keys:
                open_keys.add(k)
                pages += 1
            elif e["event_action"] == "resolve":
                open_keys.discard(k)
        return pages

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Accepted events once `check(events)` holds; AssertionError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                events = list(self.events)
            if check(events):
                return events
            time.sleep(0.1)
        raise AssertionError(f"receiver: condition not met within {timeout}s; got {len(self.events)} events, "
                             f"{len(self.received)} requests")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
