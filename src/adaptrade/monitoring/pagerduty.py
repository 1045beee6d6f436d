"""Direct pages through PagerDuty's Events API v2, for use without Alertmanager.

Every event carries an explicit dedup key, so a retried trigger lands in the same incident; a trigger
for a key this notifier already opened (and has not resolved) is not sent again. Timeouts, connection
errors, 5xx and 429 are retried with exponential backoff and jitter (429 waits at least Retry-After);
other 4xx are refused at once, and so is a Retry-After longer than `max_retry_after` (rather than
block the caller). The routing key is never logged, repr'd or put in an error message.

`record(page)`, when given, is told of every trigger, acknowledge and resolve (delivered, or not after every
retry), as a `Page` dict, so the service can keep them in its alerts table and on its stream
(`api.alerts.pagerduty_recorder`); a failing recorder is logged and never stops a page.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from adaptrade.errors import AdaptradeError, ConfigError
from adaptrade.settings import Settings

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX, DEDUP_MAX = 1024, 255  # Events API v2 limits
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
log = logging.getLogger(__name__)


class PagerDutyError(AdaptradeError):
    """An event the Events API refused (4xx) or that could not be delivered after every retry."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one event: sent (and in how many attempts, with which status) or suppressed."""

    action: str
    dedup_key: str
    sent: bool
    attempts: int = 0
    status: int | None = None


def _page(action: str, key: str, info: Mapping[str, Any], delivered: bool, error: str | None) -> dict[str, Any]:
    """The record of one event: action, dedup_key, delivered, error, when, and the trigger's summary,
    severity, component, group, class and details (kept for the acknowledge and resolve of the same key)."""
    return {"action": action, "dedup_key": key, "delivered": delivered, "error": error,
            "at": datetime.now(UTC).isoformat(timespec="seconds"), **info}


def load_routing_key(settings: Settings) -> SecretStr:
    """The routing key from `pagerduty_routing_key` (env ADAPTRADE_PAGERDUTY_ROUTING_KEY) or the file
    named by `pagerduty_routing_key_file`; exactly one of them."""
    key, path = settings.pagerduty_routing_key, settings.pagerduty_routing_key_file
    if key is not None and path is not None:
        raise ConfigError("set either the PagerDuty routing key or its file, not both", field="pagerduty_routing_key_file")
    if path is not None:
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the routing key file ({exc.strerror})", file=path,
                              field="pagerduty_routing_key_file") from None
        if not text:
            raise ConfigError("the routing key file is empty", file=path, field="pagerduty_routing_key_file")
        return SecretStr(text)
    if key is None or not key.get_secret_value().strip():
        raise ConfigError("no PagerDuty routing key: set ADAPTRADE_PAGERDUTY_ROUTING_KEY or ADAPTRADE_PAGERDUTY_ROUTING_KEY_FILE",
                          field="pagerduty_routing_key")
    return SecretStr(key.get_secret_value().strip())


def dedup_key(*parts: str) -> str:
    """A stable dedup key naming the condition (e.g. dedup_key("drawdown", run, account)), at most 255 chars."""
    key = "adaptrade/" + "/".join(parts)
    if len(key) <= DEDUP_MAX:
        return key
    return key[: DEDUP_MAX - 17] + "/" + hashlib.sha256(key.encode()).hexdigest()[:16]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PagerDutyNotifier:
    """Trigger, acknowledge and resolve incidents; keeps which dedup keys it has open (in memory)."""

    def __init__(self, routing_key: SecretStr | str, *, url: str = EVENTS_URL, source: str = "adaptrade",
                 timeout: float = 10.0, max_attempts: int = 5, base_delay: float = 1.0, max_delay: float = 60.0,
                 max_retry_after: float = 300.0, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, record: Callable[[dict[str, Any]], None] | None = None) -> None:
        secret = routing_key if isinstance(routing_key, SecretStr) else SecretStr(routing_key)
        if not secret.get_secret_value():
            raise ConfigError("empty PagerDuty routing key", field="pagerduty_routing_key")
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}", field="pagerduty_max_attempts")
        self._key = secret
        self.url, self.source, self.timeout = url, source, timeout
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.max_retry_after = max_retry_after  # a longer Retry-After gives up instead of blocking the caller
        self._sleep, self._rng = sleep, rng if rng is not None else random.Random()
        self._open: dict[str, str] = {}  # dedup key -> sending | triggered | acknowledged
        self._record = record
        self._info: dict[str, dict[str, Any]] = {}  # dedup key -> what its last trigger said (for the record of its resolve)
        self._lock = threading.Lock()
        host = urllib.parse.urlsplit(url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> PagerDutyNotifier:
        """A notifier with the key, URL, source, timeout and attempts from Settings."""
        return cls(load_routing_key(settings), url=settings.pagerduty_url, source=settings.pagerduty_source,
                   timeout=settings.pagerduty_timeout, max_attempts=settings.pagerduty_max_attempts, **kw)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(url={self.url!r}, source={self.source!r}, routing_key='**********')"

    @property
    def open_incidents(self) -> frozenset[str]:
        """Dedup keys triggered here and not resolved yet."""
        with self._lock:
            return frozenset(k for k, v in self._open.items() if v != "sending")

    def trigger(self, key: str, summary: str, severity: str = "error", *, component: str | None = None,
                group: str | None = None, event_class: str | None = None, details: Mapping[str, Any] | None = None,
                timestamp: datetime | None = None) -> Delivery:
        """Open (or, if PagerDuty already has it, add to) the incident `key`; not sent while it is open here."""
        if severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}", field="severity")
        _check_key(key)
        if not summary.strip():
            raise ConfigError("empty summary", field="summary")
        with self._lock:
            if key in self._open:
                log.info("PagerDuty trigger %s suppressed: incident already open", key)
                return Delivery("trigger", key, sent=False)
            self._open[key] = "sending"
        payload: dict[str, Any] = {
            "summary": summary if len(summary) <= SUMMARY_MAX else summary[: SUMMARY_MAX - 3] + "...",
            "source": self.source, "severity": severity,
            "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
        }
        for name, v in (("component", component), ("group", group), ("class", event_class)):
            if v:
                payload[name] = v
        if details:
            payload["custom_details"] = dict(details)
        info = {"summary": payload["summary"], "severity": severity, "started": payload["timestamp"],
                **{k: v for k, v in (("component", component), ("group", group), ("class", event_class)) if v},
                **({"details": dict(details)} if details else {})}
        with self._lock:
            self._info[key] = info
        try:
            done = self._send("trigger", key, {"payload": payload, "client": "adaptrade"})
        except PagerDutyError as exc:
            with self._lock:
                self._open.pop(key, None)
            self._told("trigger", key, False, exc.describe())
            raise
        except BaseException:
            with self._lock:
                self._open.pop(key, None)
            raise
        with self._lock:
            self._open[key] = "triggered"
        self._told("trigger", key, True, None)
        return done

    def acknowledge(self, key: str) -> Delivery:
        """Acknowledge the incident `key` (it stays open: later triggers are still suppressed)."""
        _check_key(key)
        done = self._deliver("acknowledge", key)
        with self._lock:
            if key in self._open:
                self._open[key] = "acknowledged"
        return done

    def resolve(self, key: str) -> Delivery:
        """Resolve the incident `key`; the next trigger for it pages again."""
        _check_key(key)
        done = self._deliver("resolve", key)
        with self._lock:
            self._open.pop(key, None)
        return done

    def _deliver(self, action: str, key: str) -> Delivery:
        try:
            done = self._send(action, key, {})
        except PagerDutyError as exc:
            self._told(action, key, False, exc.describe())
            raise
        self._told(action, key, True, None)
        return done

    def _told(self, action: str, key: str, delivered: bool, error: str | None) -> None:
        """Tell the recorder (if any) about one event; its failure is logged, not raised."""
        if self._record is None:
            return
        with self._lock:
            info = dict(self._info.get(key, {}))
        try:
            self._record(_page(action, key, info, delivered, error))
        except Exception as exc:  # noqa: BLE001  the page matters more than its record
            log.error("PagerDuty %s %s not recorded: %s", action, key, self._scrub(f"{type(exc).__name__}: {exc}"))

    # -- transport -------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._key.get_secret_value(), "**********")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base x 2^(attempt-1), capped, times a random factor in [0.5, 1)."""
        return min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1)) * (0.5 + 0.5 * self._rng.random())

    def _send(self, action: str, key: str, extra: dict[str, Any]) -> Delivery:
        body = json.dumps({"routing_key": self._key.get_secret_value(), "event_action": action, "dedup_key": key,
                           **extra}).encode()
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            req = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "adaptrade"})
            wait: float | None = None
            try:
                with self._opener.open(req, timeout=self.timeout) as resp:
                    resp.read()
                    log.info("PagerDuty %s %s accepted (%d) after %d attempt(s)", action, key, resp.status, attempt)
                    return Delivery(action, key, sent=True, attempts=attempt, status=resp.status)
            except urllib.error.HTTPError as exc:
                text = self._scrub(exc.read(500).decode("utf-8", "replace"))
                problem = f"HTTP {exc.code} {text.strip()[:200]}".strip()
                if exc.code == 429:
                    wait = retry_after_seconds(exc.headers.get("Retry-After"))
                    if wait is not None and wait > self.max_retry_after:
                        raise PagerDutyError(f"Events API rate-limits the {action} of {key} for {wait:.0f} s "
                                             f"(more than {self.max_retry_after:.0f} s); not waiting", field="pagerduty_url") from None
                elif exc.code < 500:
                    raise PagerDutyError(f"Events API refused the {action} of {key}: {problem}", field="pagerduty_url") from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = self._scrub(f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason)
            if attempt == self.max_attempts:
                break
            delay = max(wait or 0.0, self._backoff(attempt))
            log.warning("PagerDuty %s %s: %s; retry %d of %d in %.2fs", action, key, problem, attempt,
                        self.max_attempts - 1, delay)
            self._sleep(delay)
        raise PagerDutyError(f"could not deliver the {action} of {key} after {self.max_attempts} attempt(s): {problem}",
                             field="pagerduty_url")


def _check_key(key: str) -> None:
    if not key or len(key) > DEDUP_MAX:
        raise ConfigError(f"dedup key must be 1..{DEDUP_MAX} characters, got {len(key)}", field="dedup_key")
