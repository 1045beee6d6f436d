"""Backtest jobs: validated in the request, run outside it (at most `api_job_workers` at once, the rest
queued), so the API stays responsive: each in its own child process by default, so a cancel stops a
running job at once (the process is terminated); with a Dask scheduler configured (`scheduler`), as one
task each on that cluster (api/jobs_dask.py). The service process stores the finished run either way.

The request and the run itself (the same in a process and on Dask) are in api/job_run.py.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptrade.api.job_run import build_request, failure, run_job
from adaptrade.errors import AdaptradeError
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


def _child(req: Any, settings: Settings, sector: str | None, mode: str, conn: Any) -> None:
    """The job process: run_job with its messages on the pipe, then the result pickled to a file for the parent to store."""
    try:
        payload, doc, seconds = run_job(req, settings, sector, mode, conn.send, on_quality=lambda q: conn.send(("quality", q)))
        fd, path = tempfile.mkstemp(prefix="adaptrade-job-", suffix=".pkl")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((payload, doc), fh, protocol=pickle.HIGHEST_PROTOCOL)
        conn.send(("done", path, seconds))
    except Exception as exc:  # noqa: BLE001  a bug in a job must not kill the service; it is reported as the job's error
        conn.send(("failed", failure(exc), 0.0))
    finally:
        conn.close()


def _start_process(job_id: str, req: Any, settings: Settings, sector: str | None, mode: str) -> tuple[Any, Iterator[tuple[Any, ...]]]:
    """The job in a child process: (the process, which `terminate()` stops at once; its messages until it ends)."""
    parent, child = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(req, settings, sector, mode, child), daemon=False, name=job_id)  # may start its own workers
    proc.start()
    child.close()

    def messages() -> Iterator[tuple[Any, ...]]:
        try:
            while True:
                try:
                    yield parent.recv()
                except (EOFError, OSError):
                    return
        finally:
            parent.close()
            proc.join(timeout=30)

    return proc, messages()


class JobManager:
    """Queue, run, follow and cancel backtest jobs; `on_change(job)` is called on every state or progress change,
    `on_events(job, [(kind, data)])` with the events a running job sends after each batch (job_events),
    `on_quality(job, report)` with the data-quality report of a job's archive load (data.validate.QualityReport; process jobs only),
    `on_result(job, result, summary, seconds) -> run_id` stores a finished job's result. Jobs run in child
    processes, or with `scheduler` (a Dask address) as tasks on that cluster (api/jobs_dask.py)."""

    def __init__(self, workers: int, on_change: Callable[[Job, str | None], None],
                 on_result: Callable[[Job, Any, dict[str, Any], float], str], keep: int = 1000,
                 on_events: Callable[[Job, list[tuple[str, dict[str, Any]]]], None] | None = None,
                 on_quality: Callable[[Job, Any], None] | None = None, scheduler: str | None = None) -> None:
        self.workers = workers
        self._on_change, self._on_result, self._on_events = on_change, on_result, on_events
        self._on_quality = on_quality
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: list[tuple[Job, Any, Settings, str | None, str]] = []
        self._running = 0
        self._lock = threading.RLock()
        self._keep = keep
        self.dask: Any = None
        if scheduler:
            from adaptrade.api.jobs_dask import DaskJobs

            self.dask = DaskJobs(scheduler)

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
        """Cancel a queued or running job (a finished one is left as it is); None when unknown. A job process is
        terminated; a Dask task is cancelled and stops at its next batch (jobs_dask.DaskTask)."""
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
                job.state, job.started = "running", time.time()
            self._on_change(job, "queued")
            threading.Thread(target=self._follow, args=(job, req, settings, sector, mode), daemon=True,
                             name=f"follow-{job.id}").start()

    def _follow(self, job: Job, req: Any, settings: Settings, sector: str | None, mode: str) -> None:
        """Start the job (a child process, or a task on the Dask cluster), read its messages until it ends,
        then store the result or record the failure."""
        outcome: tuple[Any, ...] | None = None
        messages: Iterator[tuple[Any, ...]] | None = None
        try:
            start = self.dask.start if self.dask is not None else _start_process
            handle, messages = start(job.id, req, settings, sector, mode)
            with self._lock:
                job.process = handle
                stopped = job.state != "running"  # cancelled while it started
            if stopped:
                handle.terminate()
            for msg in messages:
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
                        self._on_events(job, [(str(k), dict(d)) for k, d in msg[1]])
                elif msg[0] == "quality":
                    if self._on_quality is not None:
                        self._on_quality(job, msg[1])
                else:
                    outcome = msg
                    break
        except Exception as exc:  # noqa: BLE001  e.g. the Dask scheduler cannot be reached: the job fails, the service goes on
            outcome = ("failed", failure(exc), 0.0)
        finally:
            if messages is not None:
                messages.close()  # a process is joined, a Dask queue released
            self._finish(job, outcome)

    @staticmethod
    def _payload(outcome: tuple[Any, ...]) -> tuple[Any, dict[str, Any], float]:
        """(result, summary, seconds) of a finished job: pickled to a file by a job process ("done", path,
        seconds), or the Dask task's own result ("result", result, summary, seconds)."""
        if outcome[0] == "result":
            return outcome[1], outcome[2], float(outcome[3])
        path = Path(outcome[1])
        try:
            with path.open("rb") as fh:
                result, doc = pickle.load(fh)
        finally:
            path.unlink(missing_ok=True)
        return result, doc, float(outcome[2])

    def _finish(self, job: Job, outcome: tuple[Any, ...] | None) -> None:
        with self._lock:
            self._running -= 1
            job.process = None
            cancelled = job.state == "cancelled"
        finished = outcome is not None and outcome[0] in ("done", "result")
        if cancelled:
            if finished and outcome is not None and outcome[0] == "done":
                Path(outcome[1]).unlink(missing_ok=True)
        elif finished and outcome is not None:
            try:
                result, doc, seconds = self._payload(outcome)
                run_id = self._on_result(job, result, doc, seconds)
                with self._lock:
                    job.run_id, job.state, job.done = run_id, "done", job.total or job.done
            except AdaptradeError as exc:
                with self._lock:
                    job.state, job.error = "failed", exc.describe()
        else:
            with self._lock:
                job.state = "failed"
                job.error = str(outcome[1]) if outcome is not None else "the job process ended without a result"
        if not cancelled:
            job.finished = time.time()
            self._on_change(job, "running")
        self._dispatch()

    def shutdown(self) -> None:
        """Stop every running job (the service is going down): processes terminated, Dask tasks cancelled."""
        with self._lock:
            procs = [j.process for j in self._jobs.values() if j.process is not None]
            self._queue.clear()
        for p in procs:
            p.terminate()
        if self.dask is not None:
            self.dask.close()
