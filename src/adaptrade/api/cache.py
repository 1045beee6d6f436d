"""The latest-state cache in Redis (the store and the paper folders stay the record), and Redis's return.

Keys, under the settings' `redis_prefix`, each with a TTL so nothing grows without bound:

* `job:<id>`: a job's state on every change (7 days; GET /backtests/{id} of a job from before a restart);
* `scores:latest`: every symbol's latest quality score per source with the store's score version
  (rows, last `scored_at`), written at service start and whenever a read finds the store newer (1 day).
  GET /scores answers from it when its version is the store's current one, else from the store (and
  rewrites it): the same rows either way, at the price of one aggregate query instead of the window query;
* `paper:<session>:positions`: a paper session's GET /paper/positions document, written when the service
  serves one and by the `paper run` process as it trades (live/session_hooks.py, with `paper_publish`);
  the service answers from it for a session that is not in its own paper folder (one on another host) (7 days);
* `cache`: the marker that the cache was built. Redis answering again after being seen down, or answering
  without the marker (restarted empty, flushed), makes the service rebuild everything above from its jobs,
  its store and its paper folder. The service notices on every `/ready` and every `redis_check_seconds`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from adaptrade.errors import AdaptradeError

log = logging.getLogger("adaptrade.api")
SCORES_KEY, SCORES_TTL = "scores:latest", 86400
MARKER_KEY, MARKER_TTL = "cache", 7 * 86400
MAX_SESSIONS = 1000  # paper sessions whose positions a rebuild caches


def store_scores(svc: Any) -> list[dict[str, Any]]:
    """Every latest score from the store (all sources), cached with the version read before them (a save
    in between makes the next read see a newer version and read the store again)."""
    version = svc.store.scores_version()
    rows = svc.store.latest_scores(None)
    svc.bus.put(SCORES_KEY, {"version": version, "rows": rows}, SCORES_TTL)
    return rows


def latest_scores(svc: Any, source: str | None) -> list[dict[str, Any]]:
    """GET /scores: each symbol's latest score (of one source), best first; from the cache when it holds
    the store's current version, else from the store. A source's rows are the all-sources rows of that
    source, in the same order (the latest row is picked per source and symbol). Redis known down: the store
    alone (no connection timeouts on the request path)."""
    if svc.redis_was_down:
        return [r for r in svc.store.latest_scores(None) if source is None or r.get("source") == source]
    version = svc.store.scores_version()
    cached = svc.bus.get(SCORES_KEY)
    if isinstance(cached, dict) and cached.get("version") == version and isinstance(cached.get("rows"), list):
        rows = cached["rows"]
    else:
        rows = store_scores(svc)
    return [r for r in rows if source is None or r.get("source") == source]


def paper_positions(svc: Any, session: str) -> dict[str, Any] | None:
    """GET /paper/positions: read from the session's files when it is in this service's paper folder (and
    cached), else the document its `paper run` process cached; None when neither knows it."""
    from adaptrade.live.session_view import NoSession, positions_doc, session_view

    try:
        view = session_view(session, svc.settings.paper_dir)
    except NoSession:
        return None if svc.redis_was_down else svc.bus.cached_positions(session)
    doc = positions_doc(view)
    if not svc.redis_was_down:
        svc.bus.cache_positions(session, doc)
    return doc


def paper_sessions(paper_dir: Path) -> list[str]:
    """Names of the sessions in the paper folder (folders holding a state), at most MAX_SESSIONS."""
    root = Path(paper_dir)
    if not root.is_dir():
        return []
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "state.json").exists())
    return names[:MAX_SESSIONS]


def rebuild(svc: Any) -> None:
    """Write the whole cache from the record: the service's jobs, the store's latest scores, the positions
    of every session in the paper folder; then the marker. A part that cannot be read is skipped (logged)."""
    for job in svc.jobs.all():
        svc.bus.cache_job(job.view())
    try:
        store_scores(svc)
    except AdaptradeError as exc:
        log.warning("scores not cached: %s", exc.describe())
    for name in paper_sessions(svc.settings.paper_dir):
        try:
            paper_positions(svc, name)
        except (AdaptradeError, OSError, ValueError, KeyError) as exc:
            log.warning("paper session %s: positions not cached: %s", name, exc)
    svc.bus.put(MARKER_KEY, {"built": True}, MARKER_TTL)


def check_redis(svc: Any, force: bool = False) -> bool:
    """Whether Redis answers. When it answers again after being seen down, the events that waited are sent
    (and `redis_back` announced); when it answers after being down, or without the cache marker, or with
    `force` (service start), the cache is rebuilt (once: callers wait for each other)."""
    up = svc.bus.ping()
    with svc.cache_lock:
        was_down, svc.redis_was_down = svc.redis_was_down, not up
        if not up:
            return False
        if was_down:
            svc.bus.publish("alert", {"name": "redis_back", "state": "resolved", "detail": "Redis answers again"})
        if force or was_down or not svc.bus.has(MARKER_KEY):
            rebuild(svc)
    return True


class RedisWatch:
    """A daemon thread calling check_redis every `interval` seconds (0: never; `/ready` still checks)."""

    def __init__(self, svc: Any, interval: float) -> None:
        self.svc, self.interval = svc, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="redis-watch")
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                check_redis(self.svc)
            except Exception:  # noqa: BLE001  the watch must outlive any one failure (logged)
                log.exception("checking Redis failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
