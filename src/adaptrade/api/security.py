"""Bearer-token checks (constant time), the loopback rule, and the job-start rate limit."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request

from adaptrade.errors import ConfigError
from adaptrade.settings import Settings


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or localhost."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse a non-loopback bind without a token, and a read-protected service without one."""
    if settings.api_token is None and not is_loopback(host):
        raise ConfigError(f"refusing to serve on non-loopback address {host} without ADAPTRADE_API_TOKEN", field="host")
    if settings.api_read_protected and settings.api_token is None:
        raise ConfigError("ADAPTRADE_API_READ_PROTECTED needs ADAPTRADE_API_TOKEN", field="api_read_protected")
    if settings.api_token is not None and len(settings.api_token.get_secret_value()) < 16:
        raise ConfigError("ADAPTRADE_API_TOKEN must be at least 16 characters", field="api_token")


def check_token(authorization: str | None, settings: Settings) -> None:
    """401 without a bearer token, 403 with a wrong one; nothing when no token is configured (loopback only)."""
    if settings.api_token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(401, "this endpoint needs Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), settings.api_token.get_secret_value().encode()):
        raise HTTPException(403, "the bearer token is not valid")


def require_write(request: Request) -> None:
    """Dependency of endpoints that start or cancel work."""
    check_token(request.headers.get("authorization"), request.app.state.service.settings)


async def require_read(request: Request) -> None:
    """Dependency of read endpoints: open unless ADAPTRADE_API_READ_PROTECTED (async: no thread hop per request)."""
    settings = request.app.state.service.settings
    if settings.api_read_protected:
        check_token(request.headers.get("authorization"), settings)


class RateLimit:
    """At most `per_minute` events per key in any 60 s window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._seen[key]
            while q and now - q[0] > 60.0:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


class RedactSecret(logging.Filter):
    """Replaces a secret (the API token) in a log record's message by *** (e.g. websocket frame dumps at debug level)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001  a malformed record is left to logging itself
            return True
        if self.secret and self.secret in text:
            record.msg, record.args = text.replace(self.secret, "***"), ()
        return True


LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server", "adaptrade", "adaptrade.api")


def redact_logs(settings: Settings) -> None:
    """Install RedactSecret for the token on the loggers of the service (once per token)."""
    if settings.api_token is None:
        return
    secret = settings.api_token.get_secret_value()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecret) and f.secret == secret for f in logger.filters):
            logger.addFilter(RedactSecret(secret))
