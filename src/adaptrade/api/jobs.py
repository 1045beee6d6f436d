"""Backtest jobs: validated in the request, run outside it, each in its own child process (at most
`api_job_workers` at once, the rest queued), so the API stays responsive and a cancel can stop a
running job at once (the process is terminated). The service process stores the finished run.

The request is built here from the same fields and checks as `adaptrade backtest` (the api layer
sits below commands, so it cannot call the command's helpers): the settings fields are validated by
`adaptrade.settings.Settings`, the strategy fields by `StrategyConfig`.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptrade.errors import AdaptradeError, ConfigError
from adaptrade.settings import Settings

log = logging.getLogger("adaptrade.api")
MAX_EVENTS_PER_KIND = 500  # fills and parameter changes of one finished portfolio job sent to the stream
_CTX = mp.get_context("forkserver")


@dataclass
class Job:
    """One backtest job and where it is."""

    id: str
    body: dict[str, Any]
    state: str = "queued"
    done: int = 0
    total: int | None = None
    run_id: str | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    process: Any = None

    def view(self) -> dict[str, Any]:
        """The JSON state of GET /backtests/{id}."""
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "progress": (self.done / self.total) if self.total else (1.0 if self.state == "done" else 0.0),
                "run_id": self.run_id, "error": self.error, "created": self.created, "started": self.started,
                "finished": self.finished, "request": self.body}


def build_request(body: dict[str, Any], settings: Settings) -> tuple[Any, Settings]:
    """(RunRequest, job settings) from a POST /backtests body; ConfigError on a bad value (-> 422)."""
    from pydantic import ValidationError

    from adaptrade.parallel.runner import RunRequest
    from adaptrade.strategy.params import StrategyConfig

    overrides = {k: v for k, v in {
        "fill": body.get("fill"), "commission_bps": body.get("commission_bps"), "slippage_bps": body.get("slippage_bps"),
        "price_basis": body.get("prices"), "repair_policy": body.get("policy"), "executor": body.get("executor"),
        "workers": body.get("workers"),
    }.items() if v is not None}
    if body.get("whole_shares"):
        overrides["whole_shares"] = True
    try:
        job_settings = Settings(**{**dict(settings), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        flag = {"price_basis": "prices", "repair_policy": "policy"}.get(name, name)
        raise ConfigError(f"{err.get('msg', 'invalid value')} (got {err.get('input')!r})", field=flag) from None
    s = job_settings
    if body.get("mode") == "portfolio" and s.fill == "close":
        raise ConfigError("portfolio mode fills orders from the next bar on; fill 'close' is per-stock only", field="fill")
    cfg = StrategyConfig(kind=body.get("strategy", "adaptive"), rsi_period=body.get("rsi_period", 14), buy=body.get("buy", 30.0),
                         sell=body.get("sell", 70.0), fill=s.fill, commission_bps=s.commission_bps, slippage_bps=s.slippage_bps,
                         whole_shares=s.whole_shares, initial_cash=s.initial_cash, learning_alpha=s.learning_alpha,
                         min_trades_to_adapt=s.min_trades_to_adapt, threshold_step=s.threshold_step)
    source = body.get("source", "synthetic")
    symbols = tuple(x.strip().upper() for x in (body.get("symbols") or "").split(",") if x.strip())
    stocks = body.get("stocks")
    if stocks is None and not symbols and source == "synthetic":
        stocks = 50
    req = RunRequest(source=source, symbols=symbols, universe=None if symbols else (body.get("universe") or "nasdaq100"),
                     stocks=stocks, bars=body.get("bars", 2520), seed=body.get("seed", 42), start=body.get("start"),
                     end=body.get("end"), data_dir=None, strategy=cfg)
    return req, job_settings


def run_portfolio(req: Any, settings: Settings, loaded: Any, progress: Callable[[int, int], None] | None = None) -> Any:
    """A portfolio-mode run of loaded data (one account, risk limits from settings), as `adaptrade backtest
    --mode portfolio` does it; Kelly sizing learns from paper trades on the run's own data (no warm-up source)."""
    from adaptrade.parallel import runner
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits

    limits = RiskLimits.from_settings(settings).with_(initial_cash=req.strategy.initial_cash)
    out = run_portfolio_backtest(loaded.bars, req.strategy, limits, states=None, sizes=None, progress=progress)
    info = runner.run_settings(req, settings, loaded)
    info.update(mode="portfolio", risk=limits.describe(), complete=True, failed_symbols=[],
                kelly_warmup_source="paper trades on the run's own data")
    return build_portfolio_result(out, loaded.benchmark_close, loaded.benchmark_symbol, risk_free_rate=settings.risk_free_rate,
                                  min_sharpe=settings.min_sharpe, min_win_rate=settings.min_win_rate,
                                  min_trades=settings.min_trades_rank, settings=info)


def _child(req: Any, settings: Settings, sector: str | None, mode: str, conn: Any) -> None:
    """The job process: load, run with progress messages, pickle the result (a BacktestResult, or a
    PortfolioResult in portfolio mode) for the parent to store."""
    try:
        from dataclasses import replace

        from adaptrade.parallel import runner
        from adaptrade.reports.files import summary

        if sector:
            from adaptrade.universe.universe import NasdaqUniverse

            root, _ = runner.resolve_data_dir(runner.RunRequest(source="archive"), settings)
            chosen = NasdaqUniverse(root).select(req.universe or "nasdaq100", sector, None, with_data=req.source == "archive")
            req = replace(req, symbols=tuple(chosen), universe=None)
        from adaptrade.api.job_events import JobEvents

        t0 = time.perf_counter()
        loaded = runner.load_data(req, settings)
        if loaded.quality is not None:  # archive data: what the load found and repaired, for /metrics
            conn.send(("quality", loaded.quality))
        n = loaded.bars.n_symbols
        conn.send(("progress", 0, n))
        if mode == "portfolio":  # one account, all stocks step together: progress is the share of bars stepped, in stocks
            payload = run_portfolio(req, settings, loaded, progress=lambda t, T: conn.send(("progress", n * t // max(T, 1), n)))
            doc = summary(payload.result)
            doc["aggregate"] = payload.aggregate()  # the account's figures, as `adaptrade backtest --mode portfolio`
            doc["portfolio"] = payload.account_summary()
            conn.send(("progress", n, n))
        else:
            events = JobEvents(loaded.bars.dates, req.strategy.initial_cash)

            def on_batch(o: Any, done: int) -> None:  # the batch's fills, parameter changes and equity, before its progress
                if o.ok and o.result is not None:
                    conn.send(("events", events.batch(o.symbols, o.result, done)))

            payload, _ = runner.run(req, settings, progress=lambda done: conn.send(("progress", done, n)), data=loaded,
                                    on_batch=on_batch)
            doc = summary(payload)
        fd, path = tempfile.mkstemp(prefix="adaptrade-job-", suffix=".pkl")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((payload, doc), fh, protocol=pickle.HIGHEST_PROTOCOL)
        conn.send(("done", path, time.perf_counter() - t0))
    except AdaptradeError as exc:
        conn.send(("failed", exc.describe(), 0.0))
    except Exception as exc:  # noqa: BLE001  a bug in a job must not kill the service; it is reported as the job's error
        conn.send(("failed", f"{type(exc).__name__}: {exc}", 0.0))
    finally:
        conn.close()


class JobManager:
    """Queue, run, follow and cancel backtest jobs; `on_change(job)` is called on every state or progress change,
    `on_events(job, [(kind, data)])` with the events a running job sends after each batch (job_events),
    `on_quality(job, report)` with the data-quality report of a job's archive load (data.validate.QualityReport),
    `on_result(job, result, summary, seconds) -> run_id` stores a finished job's result."""

    def __init__(self, workers: int, on_change: Callable[[Job, str | None], None],
                 on_result: Callable[[Job, Any, dict[str, Any], float], str], keep: int = 1000,
                 on_events: Callable[[Job, list[tuple[str, dict[str, Any]]]], None] | None = None,
                 on_quality: Callable[[Job, Any], None] | None = None) -> None:
        self.workers = workers
        self._on_change, self._on_result, self._on_events = on_change, on_result, on_events
        self._on_quality = on_quality
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: list[tuple[Job, Any, Settings, str | None, str]] = []
        self._running = 0
        self._lock = threading.RLock()
        self._keep = keep

    def submit(self, body: dict[str, Any], settings: Settings) -> Job:
        """Validate `body` (ConfigError on bad input) and queue it; returns the job."""
        req, job_settings = build_request(body, settings)
        job = Job(id=f"job-{secrets.token_hex(8)}", body=body)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
            self._queue.append((job, req, job_settings, body.get("sector"), body.get("mode") or "per-stock"))
        self._on_change(job, None)
        self._dispatch()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a finished one is left as it is); None when unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return job
            old = job.state
            self._queue = [q for q in self._queue if q[0] is not job]
            job.state, job.finished = "cancelled", time.time()
            proc = job.process
        if proc is not None:
            proc.terminate()
        self._on_change(job, old)
        return job

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._running >= self.workers or not self._queue:
                    return
                job, req, settings, sector, mode = self._queue.pop(0)
                self._running += 1
                parent, child = _CTX.Pipe(duplex=False)
                proc = _CTX.Process(target=_child, args=(req, settings, sector, mode, child), daemon=False, name=job.id)  # may start its own workers
                job.process, job.state, job.started = proc, "running", time.time()
            proc.start()
            child.close()
            self._on_change(job, "queued")
            threading.Thread(target=self._follow, args=(job, parent, proc), daemon=True, name=f"follow-{job.id}").start()

    def _follow(self, job: Job, conn: Any, proc: Any) -> None:
        """Read the job process's messages until it ends; store the result or record the failure."""
        outcome: tuple[Any, ...] | None = None
        try:
            while True:
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    break
                if msg[0] == "progress":
                    with self._lock:
                        if job.state != "running":
                            continue
                        job.done, job.total = int(msg[1]), int(msg[2])
                    self._on_change(job, "running")
                elif msg[0] == "events":
                    with self._lock:
                        if job.state != "running":
                            continue
                    if self._on_events is not None:
                        self._on_events(job, msg[1])
                elif msg[0] == "quality":
                    if self._on_quality is not None:
                        self._on_quality(job, msg[1])
                else:
                    outcome = msg
                    break
        finally:
            conn.close()
            proc.join(timeout=30)
            self._finish(job, outcome)

    def _finish(self, job: Job, outcome: tuple[Any, ...] | None) -> None:
        with self._lock:
            self._running -= 1
            job.process = None
            cancelled = job.state == "cancelled"
        if cancelled:
            if outcome is not None and outcome[0] == "done":
                Path(outcome[1]).unlink(missing_ok=True)
        elif outcome is not None and outcome[0] == "done":
            path = Path(outcome[1])
            try:
                with path.open("rb") as fh:
                    result, doc = pickle.load(fh)
                run_id = self._on_result(job, result, doc, float(outcome[2]))
                with self._lock:
                    job.run_id, job.state, job.done = run_id, "done", job.total or job.done
            except AdaptradeError as exc:
                with self._lock:
                    job.state, job.error = "failed", exc.describe()
            finally:
                path.unlink(missing_ok=True)
        else:
            with self._lock:
                job.state = "failed"
                job.error = outcome[1] if outcome is not None else "the job process ended without a result"
        if not cancelled:
            job.finished = time.time()
            self._on_change(job, "running")
        self._dispatch()

    def shutdown(self) -> None:
        """Stop every running job process (the service is going down)."""
        with self._lock:
            procs = [j.process for j in self._jobs.values() if j.process is not None]
            self._queue.clear()
        for p in procs:
            p.terminate()
