"""The FastAPI application of `adaptrade serve`: one Service (settings, store, event bus, metrics,
jobs) behind the routes, problem-JSON errors, body limit, metrics middleware, optional CORS."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from adaptrade.api import problems
from adaptrade.api.events import EventBus
from adaptrade.api.jobs import Job, JobManager
from adaptrade.api.page_cache import PageCache
from adaptrade.api.security import RateLimit, redact_logs
from adaptrade.api.store_access import StoreAccess
from adaptrade.monitoring.metrics import Metrics
from adaptrade.settings import Settings

log = logging.getLogger("adaptrade.api")
PREFIX = "/api/v1"


@dataclass
class Service:
    """Everything the routes share."""

    settings: Settings
    store: StoreAccess
    bus: EventBus
    metrics: Metrics
    jobs: JobManager
    job_starts: RateLimit
    pages: PageCache
    pager: Any = None  # api.direct_pages.ServicePager when settings.pagerduty_direct
    redis_was_down: bool = False  # Redis was seen down (api/cache.check_redis): the cache is rebuilt when it answers
    cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def job_changed(self, job: Job, old: str | None) -> None:
        """Publish a job's progress or state change, cache it, count it."""
        view = job.view()
        if old != job.state:
            self.metrics.job_moved(old, job.state)
        self.bus.cache_job(view)
        self.bus.publish("job", {k: view[k] for k in ("id", "state", "done", "total", "progress", "run_id", "error")})
        if job.state == "failed" and old != "failed":
            from adaptrade.api import alerts

            alerts.record(self, alerts.service_alert("AdaptradeJobFailed", job.id, "error",
                                                     f"backtest job {job.id} failed: {job.error}", job_id=job.id))

    def job_result(self, job: Job, result: Any, summary: dict[str, Any], seconds: float) -> str:
        """Store a finished job's run, record its metrics and publish its fills, parameter changes and equity."""
        from adaptrade.monitoring.record import record_backtest, record_portfolio
        from adaptrade.portfolio.results import PortfolioResult

        if isinstance(result, PortfolioResult):  # portfolio job: the account and its order tables are stored too
            from adaptrade.api import alerts

            pr = result
            run_id = self.store.save_run(pr.result, summary, extra={"orders": pr.orders, "fills": pr.fills, "risk_events": pr.events,
                                                                    "order_history": pr.history, "account": pr.account})
            record_portfolio(self.metrics, pr, run=run_id, seconds=seconds)
            publish_run_events(self.bus, run_id, job.id, pr.result, trades=False)  # its fills went out at each checkpoint
            alerts.account_alerts(self, run_id, pr.account)
            return run_id
        run_id = self.store.save_run(result, summary)
        record_backtest(self.metrics, result, run=run_id, seconds=seconds)
        publish_run_events(self.bus, run_id, job.id, result, trades=False)  # its fills and parameter changes went out per batch
        return run_id

    def job_quality(self, job: Job, report: Any) -> None:
        """Count what a job's archive load found and repaired (data defects and repairs in /metrics)."""
        from adaptrade.monitoring.record import record_quality

        record_quality(self.metrics, report)

    def job_events(self, job: Job, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish the fills, parameter changes and equity a running job sent after a batch (run_id: not stored yet)."""
        for kind, data in events:
            self.bus.publish(kind, {"run_id": None, "job_id": job.id, **data})


def publish_run_events(bus: EventBus, run_id: str, job_id: str, result: Any, trades: bool = True) -> None:
    """Fills (trade entries and exits) and parameter changes (at most MAX_EVENTS_PER_KIND of each kind, the latest
    ones; not when `trades` is False) and the final mean equity of a finished run."""
    from adaptrade.api.jobs import MAX_EVENTS_PER_KIND
    from adaptrade.api.store_access import clean

    s = result.stocks
    final = {"run_id": run_id, "job_id": job_id, "stocks": len(s),
             "mean_equity_multiple": clean(1.0 + float(s["total_return"].mean())) if len(s) else None}
    if not trades:
        bus.publish("equity", final)
        return
    for row in result.trades.tail(MAX_EVENTS_PER_KIND // 2).itertuples(index=False):
        d = row._asdict()
        bus.publish("fill", {"run_id": run_id, "job_id": job_id, "symbol": str(d["symbol"]), "side": "buy",
                             "date": clean(d["entry_date"]), "price": clean(d["entry_price"]), "shares": clean(d["shares"])})
        if clean(d["exit_date"]) is not None:
            bus.publish("fill", {"run_id": run_id, "job_id": job_id, "symbol": str(d["symbol"]), "side": "sell",
                                 "date": clean(d["exit_date"]), "price": clean(d["exit_price"]), "shares": clean(d["shares"])})
    for row in result.params.tail(MAX_EVENTS_PER_KIND).itertuples(index=False):
        d = row._asdict()
        bus.publish("param", {"run_id": run_id, "job_id": job_id, **{k: clean(v) for k, v in d.items()}})
    bus.publish("equity", final)


class MetricsMiddleware:
    """observe_request(method, route template, status, seconds) for every HTTP request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_status(msg: dict[str, Any]) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
            await send(msg)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # the router records the matched route
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope.get("method", "GET"), template, status, time.perf_counter() - t0)


def build_service(settings: Settings) -> Service:
    """Open the store and the bus; the job manager reports to both (jobs on Dask when `scheduler` is set)."""
    from adaptrade.errors import ConfigError
    from adaptrade.storage.backend import store_target

    if settings.scheduler and settings.executor not in ("auto", "dask"):
        raise ConfigError(f"scheduler needs executor dask or auto (got {settings.executor})", field="scheduler")
    store = StoreAccess(store_target(settings), settings.store_lock_timeout, settings.api_store_read_connections)
    bus = EventBus(settings.redis_url, settings.redis_prefix, settings.redis_stream_maxlen)
    metrics = Metrics(settings)
    holder: dict[str, Service] = {}
    jobs = JobManager(settings.api_job_workers, lambda j, o: holder["s"].job_changed(j, o),
                      lambda j, r, d, t: holder["s"].job_result(j, r, d, t), on_events=lambda j, e: holder["s"].job_events(j, e),
                      on_quality=lambda j, q: holder["s"].job_quality(j, q), scheduler=settings.scheduler)
    svc = Service(settings, store, bus, metrics, jobs, RateLimit(settings.api_job_starts_per_minute),
                  PageCache(settings.api_page_cache_entries))
    holder["s"] = svc
    if settings.pagerduty_direct:
        from adaptrade.api.direct_pages import ServicePager

        svc.pager = ServicePager.from_service(settings, store, bus)
    return svc


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The ASGI app: routes under /api/v1, /metrics, the dashboard at /."""
    from fastapi.middleware.cors import CORSMiddleware

    from adaptrade import __version__
    from adaptrade.api import dashboard, routes_alerts, routes_analytics, routes_jobs, routes_paper, routes_read, stream

    svc = service or build_service(settings)
    redact_logs(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from adaptrade.api.cache import RedisWatch, check_redis

        try:
            check_redis(svc, force=True)  # the cache written at start (jobs, latest scores, paper positions)
        except Exception:  # noqa: BLE001  the cache is best effort: the service starts without it (logged)
            log.exception("the Redis cache was not built at start")
        watch = RedisWatch(svc, settings.redis_check_seconds)
        watch.start()
        yield
        watch.stop()
        svc.jobs.shutdown()
        if svc.pager is not None:
            svc.pager.close()
        svc.bus.close()
        svc.store.close()

    app = FastAPI(title="adaptrade", version=__version__, lifespan=lifespan, openapi_url=f"{PREFIX}/openapi.json",
                  docs_url=f"{PREFIX}/docs", redoc_url=None,
                  description="Backtest runs, scores, universe, backtest jobs and a live event stream (docs/service.md). "
                              "Errors are RFC 7807 problem JSON.")
    app.state.service = svc
    problems.install(app)
    app.openapi = lambda: problems.problem_openapi(app)  # type: ignore[method-assign]
    app.include_router(routes_read.router)  # each router carries the /api/v1 prefix, so route templates are full paths
    app.include_router(routes_analytics.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_paper.router)
    app.include_router(stream.router)
    app.include_router(dashboard.router)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.api_cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    app.add_middleware(problems.BodyLimit, limit=settings.api_max_body_bytes)
    return app
