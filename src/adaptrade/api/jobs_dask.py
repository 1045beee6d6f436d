"""Backtest jobs on a Dask cluster (setting `scheduler`): each job is one task, `dask_job`, running the
same job body as a job process (jobs.run_job). Its progress and batch events come back through a
distributed `Queue` named after the job, its result as the future's result (stored by the service as a job
process's is), and its cancel through a distributed `Event` the task checks after each batch.

Cancel on Dask: the future is cancelled (a job still waiting on the cluster never starts) and the job's
Event is set; Dask cannot interrupt a running task, so a running job stops when its current batch ends
(a portfolio job at its next progress step, about a twentieth of its bars), and nothing is stored.

Inside the task the job's batches run on threads (`serial` when the body asks for it): executor
auto/dask would submit to the cluster from one of its own tasks, `processes` would fork from a daemon
worker. Workers read archive data from the same `data_dir` path as the service (as the dask executor of
`adaptrade backtest` does). The settings sent to the cluster carry no secrets (API token, Alpaca and
PagerDuty keys, the store URL; the Redis URL without its password).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any, get_args

from pydantic import SecretStr

from adaptrade.errors import ConfigError
from adaptrade.settings import Settings

POLL = 0.1  # seconds between reads of a running job's queue


class JobCancelled(Exception):
    """The job's cancel Event is set: the task stops between batches."""


# every secret field of Settings (SecretStr), so a secret added to the settings is never sent to the cluster
SECRET_FIELDS = tuple(name for name, f in Settings.model_fields.items() if SecretStr in (get_args(f.annotation) or (f.annotation,)))


def task_settings(settings: Settings) -> Settings:
    """The job's settings as sent to the cluster: no scheduler, batches on threads (serial stays serial), no secrets
    (the SecretStr fields, the store URL, the Redis URL's password)."""
    from adaptrade.api.events import redacted

    return settings.model_copy(update={
        "scheduler": None, "executor": "serial" if settings.executor == "serial" else "threads",
        **dict.fromkeys(SECRET_FIELDS), "db_url": None, "redis_url": redacted(settings.redis_url)})


def _plain(value: Any) -> Any:
    """`value` as msgpack-encodable data (a distributed Queue carries msgpack): numpy scalars become Python numbers."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def dask_job(req: Any, settings: Settings, sector: str | None, mode: str, queue_name: str, cancel_name: str) -> tuple[Any, ...]:
    """The task: run_job with its messages put on the job's Queue. Returns ("result", result, summary, seconds),
    ("failed", error, 0.0), or ("cancelled", None, 0.0) when the cancel Event was seen."""
    from distributed import Event, Queue

    from adaptrade.api.job_run import failure, run_job
    from adaptrade.parallel.batching import run_batch

    queue, cancel = Queue(queue_name), Event(cancel_name)
    stopping = threading.Event()

    def send(msg: tuple[Any, ...]) -> None:
        if msg[0] == "progress" and (stopping.is_set() or cancel.is_set()):
            stopping.set()
            raise JobCancelled
        queue.put(_plain(list(msg)))

    def batch(b: Any) -> Any:  # batches still waiting when the cancel is seen end at once (as failed batches)
        if stopping.is_set():
            raise JobCancelled
        return run_batch(b)

    try:
        result, doc, seconds = run_job(req, settings, sector, mode, send, fn=batch)
        return ("result", result, doc, seconds)
    except JobCancelled:
        return ("cancelled", None, 0.0)
    except Exception as exc:  # noqa: BLE001  reported as the job's error, as from a job process
        return ("failed", failure(exc), 0.0)
    finally:
        queue.close()
        if stopping.is_set():
            cancel.clear()  # forgets the Event on the scheduler


class DaskTask:
    """A job's task on the cluster, as the job manager holds a job process: `terminate()` cancels it."""

    def __init__(self, future: Any, cancel: Any) -> None:
        self.future, self.cancel = future, cancel

    def terminate(self) -> None:
        """Cancel: a waiting task never starts; a running one stops when its current batch ends (the Event)."""
        try:
            self.cancel.set()
        finally:
            self.future.cancel()


class DaskJobs:
    """The service's client of the Dask scheduler (connected at the first job) and the start of each job's task."""

    def __init__(self, scheduler: str) -> None:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ConfigError(f"scheduler address '{scheduler}' should look like tcp://HOST:PORT", field="scheduler")
        self.scheduler = scheduler
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The connected client; ConfigError naming the scheduler when it cannot be reached (the job fails)."""
        with self._lock:
            if self._client is None:
                from distributed import Client

                try:
                    self._client = Client(self.scheduler, timeout="10s", set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise ConfigError(f"cannot reach Dask scheduler {self.scheduler}: {exc}", field="scheduler") from None
            return self._client

    def start(self, job_id: str, req: Any, settings: Settings, sector: str | None, mode: str) -> tuple[DaskTask, Iterator[tuple[Any, ...]]]:
        """Submit the job's task: (its handle, its messages until it ends, the last one its outcome)."""
        from distributed import Event, Queue

        client = self.client()
        queue, cancel = Queue(f"{job_id}:messages", client=client), Event(f"{job_id}:cancel", client=client)
        future = client.submit(dask_job, req, task_settings(settings), sector, mode, queue.name, cancel.name,
                               key=job_id, pure=False, retries=0)
        return DaskTask(future, cancel), self._messages(future, queue)

    @staticmethod
    def _messages(future: Any, queue: Any) -> Iterator[tuple[Any, ...]]:
        """The task's queued messages as they come, then its outcome; nothing more once it is cancelled."""
        try:
            while True:
                ended = future.done()  # looked at first: what the task put before it ended is then all in the queue
                for msg in queue.get(batch=True):
                    yield tuple(msg)
                if ended:
                    break
                time.sleep(POLL)
            if future.cancelled():
                return
            outcome = future.result()  # a task that raised (e.g. its worker died) raises here: the job fails with it
            if outcome[0] != "cancelled":
                yield outcome
        finally:
            queue.close()
            future.release()

    def close(self) -> None:
        """Close the client (the service is going down); the cluster stays up."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
