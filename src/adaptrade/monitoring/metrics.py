"""The service's Prometheus metrics, in their own `CollectorRegistry` (never the process-global one),
so `/metrics` shows exactly what adaptrade defines and tests can build as many as they like.

`adaptrade.monitoring.record` turns finished backtest results into these numbers; the alert rules in
`deploy/prometheus/rules/` and the dashboards in `deploy/grafana/` read them by the names below.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from adaptrade.settings import Settings

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = ("done", "failed", "cancelled")
MODES = ("per_stock", "portfolio")
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RUN_LABELS = ("run", "account")
RUN_GAUGES = ("realized", "unrealized", "sharpe", "drawdown", "max_drawdown", "breaker", "breaker_trips", "equity",
              "gross", "finished_at")


class Metrics:
    """Every metric adaptrade exports, registered in `self.registry`.

    Per-run gauges (labels run, account) keep the last `max_runs` runs only, so a long-lived
    service does not grow a series per run forever.
    """

    def __init__(self, settings: Settings | None = None, registry: CollectorRegistry | None = None) -> None:
        s = settings if settings is not None else Settings()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.max_runs = s.metrics_max_runs
        self._runs: OrderedDict[str, set[tuple[Gauge, tuple[str, ...]]]] = OrderedDict()
        self._lock = threading.Lock()
        r = self.registry
        # trading activity (counters accumulate over every run the process recorded)
        self.orders = Counter("adaptrade_orders", "Orders placed, by symbol, side and mode.", ["symbol", "side", "mode"], registry=r)
        self.fills = Counter("adaptrade_fills", "Fills, by symbol, side and mode.", ["symbol", "side", "mode"], registry=r)
        self.bars = Counter("adaptrade_bars_processed", "Stock-bars run through the strategy, by mode.", ["mode"], registry=r)
        self.last_data = Gauge("adaptrade_last_data_timestamp_seconds",
                               "Unix time bars were last processed (process start until then).", registry=r)
        self.defects = Counter("adaptrade_data_defects", "Recoverable data defects found at load, by kind.", ["kind"], registry=r)
        self.repairs = Counter("adaptrade_data_repairs", "Rows repaired (dropped or filled) at load, by policy.", ["policy"], registry=r)
        # per run and account
        self.realized = Gauge("adaptrade_realized_pnl_dollars", "P&L of closed trades.", RUN_LABELS, registry=r)
        self.unrealized = Gauge("adaptrade_unrealized_pnl_dollars", "P&L of open positions marked at the last close.",
                                RUN_LABELS, registry=r)
        self.sharpe = Gauge("adaptrade_sharpe_ratio", "Annualised Sharpe ratio (NaN when undefined).", RUN_LABELS, registry=r)
        self.drawdown = Gauge("adaptrade_drawdown_ratio", "Drawdown below peak equity at the latest bar (0..1).",
                              RUN_LABELS, registry=r)
        self.max_drawdown = Gauge("adaptrade_max_drawdown_ratio", "Largest drawdown below peak equity (0..1).",
                                  RUN_LABELS, registry=r)
        self.breaker = Gauge("adaptrade_circuit_breaker_on", "1 while the drawdown circuit breaker is tripped (latest bar).",
                             RUN_LABELS, registry=r)
        self.breaker_trips = Gauge("adaptrade_circuit_breaker_trips", "Times the breaker tripped in the run.", RUN_LABELS, registry=r)
        self.equity = Gauge("adaptrade_equity_dollars", "Equity at the latest bar.", RUN_LABELS, registry=r)
        self.gross = Gauge("adaptrade_gross_exposure_ratio", "Gross exposure at the latest bar, share of equity.", RUN_LABELS, registry=r)
        self.finished_at = Gauge("adaptrade_run_finished_timestamp_seconds", "Unix time the run was recorded.", RUN_LABELS, registry=r)
        # backtests and jobs
        self.duration = Histogram("adaptrade_backtest_duration_seconds", "Wall time of finished backtests, by mode.", ["mode"],
                                  buckets=DURATION_BUCKETS, registry=r)
        self.jobs = Gauge("adaptrade_jobs", "Jobs currently in each state.", ["state"], registry=r)
        self.jobs_finished = Counter("adaptrade_jobs_finished", "Jobs that reached a final state.", ["state"], registry=r)
        # API
        self.latency = Histogram("adaptrade_api_request_duration_seconds", "API request latency, by method and route template.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("adaptrade_api_requests", "API responses, by method, route template and status code.",
                                ["method", "route", "code"], registry=r)
        self.errors = Counter("adaptrade_api_errors", "API responses with a 5xx status (server errors).",
                              ["method", "route", "code"], registry=r)
        # the alert thresholds, from Settings, so the rules compare against one source of truth
        self.drawdown_limit = Gauge("adaptrade_alert_drawdown_limit_ratio", "Setting alert_drawdown_limit.", registry=r)
        self.no_data_seconds = Gauge("adaptrade_alert_no_data_seconds", "Setting alert_no_data_minutes, in seconds.", registry=r)
        self.drawdown_limit.set(s.alert_drawdown_limit)
        self.no_data_seconds.set(s.alert_no_data_minutes * 60.0)
        self.last_data.set(time.time())
        for state in JOB_STATES:  # series exist from the start, so increase() sees the first failure
            self.jobs.labels(state).set(0)
        for state in FINISHED_STATES:
            self.jobs_finished.labels(state)
        for mode in MODES:  # and the first backtest of each mode shows in rate() / increase() too
            self.bars.labels(mode)
            self.duration.labels(mode)

    # -- per-run gauges ------------------------------------------------------------------
    def set_run(self, run: str, account: str, values: Mapping[str, float | None]) -> None:
        """Set the per-run gauges named in `values` (attribute names of this object; None = NaN)."""
        with self._lock:
            keys = self._runs.pop(run, set())
            self._runs[run] = keys
            for name, value in values.items():
                if name not in RUN_GAUGES:
                    raise ValueError(f"{name} is not a per-run gauge (known: {', '.join(RUN_GAUGES)})")
                gauge: Gauge = getattr(self, name)
                gauge.labels(run, account).set(math.nan if value is None else float(value))
                keys.add((gauge, (run, account)))
            while len(self._runs) > self.max_runs:
                self._drop(next(iter(self._runs)))

    def forget_run(self, run: str) -> None:
        """Remove every per-run series of `run` (e.g. when the run is deleted)."""
        with self._lock:
            if run in self._runs:
                self._drop(run)

    def _drop(self, run: str) -> None:
        for gauge, labels in self._runs.pop(run):
            try:
                gauge.remove(*labels)
            except KeyError:
                pass

    @property
    def runs(self) -> tuple[str, ...]:
        """Runs whose gauges are exported, oldest first."""
        return tuple(self._runs)

    # -- jobs and the API ----------------------------------------------------------------
    def job_moved(self, old: str | None, new: str) -> None:
        """A job left state `old` (None: it is new) for `new`; final states are also counted."""
        for state in (old, new):
            if state is not None and state not in JOB_STATES:
                raise ValueError(f"unknown job state {state!r} (known: {', '.join(JOB_STATES)})")
        if old is not None:
            self.jobs.labels(old).dec()
        self.jobs.labels(new).inc()
        if new in FINISHED_STATES:
            self.jobs_finished.labels(new).inc()

    def observe_request(self, method: str, route: str, code: int, seconds: float) -> None:
        """One API response; `route` is the route template (/runs/{run_id}), never the raw path."""
        self.latency.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(code)).inc()
        if code >= 500:
            self.errors.labels(method, route, str(code)).inc()

    def bars_processed(self, n: int, mode: str) -> None:
        """`n` stock-bars went through the strategy now (feeds the NoData alert)."""
        self.bars.labels(mode).inc(n)
        self.last_data.set(time.time())

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (what `/metrics` returns)."""
        return generate_latest(self.registry)


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry can export (counter `_total`, histogram `_bucket/_sum/_count`)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",), "summary": ("", "_sum", "_count", "_created")}
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names
