"""Executors: one interface, `map(fn, batches, on_done) -> outcomes`, run serially, on a thread
pool in this process (zero copies: the compiled kernels release the GIL), in local processes or
on a Dask cluster. Outcomes come back in batch order whatever finished first, a
batch that raises or whose worker dies becomes a failed outcome, and the others still finish.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Protocol

from adaptrade.parallel.batching import Batch, BatchOutcome, BatchResult, guarded
from adaptrade.errors import ConfigError

BatchFn = Callable[[Batch], BatchResult]
OnDone = Callable[[BatchOutcome], None]
EXECUTORS = ("auto", "serial", "threads", "processes", "dask")
# `auto` = dask with a scheduler, else threads (one per core, or --workers). The feature and backtest
# kernels are numba `nogil=True` and batches read row slices of the loaded bars (no copies, no
# regeneration), so threads scale where processes could not: on 2 cores processes were slower than
# serial for 500 x 2,520 (regenerating a batch costs about as much as backtesting it), threads are
# faster (benchmarks/scaling.py, docs/performance.md "Executors"). Processes and Dask stay for
# other machines and clusters.
IN_PROCESS = ("serial", "threads")  # executors that read the driver's bars directly

class Executor(Protocol):
    """Runs `fn` over batches; calls `on_done` as each finishes; returns outcomes in batch order."""

    name: str
    workers: int

    def map(self, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None = None) -> list[BatchOutcome]: ...


def _ordered(outcomes: dict[int, BatchOutcome], batches: Sequence[Batch]) -> list[BatchOutcome]:
    return [outcomes[b.index] for b in batches]


def _died(batch: Batch, why: str) -> BatchOutcome:
    return BatchOutcome(batch.index, batch.symbols, error=why)


class SerialExecutor:
    """In this process, one batch after the other (the reference)."""

    name = "serial"
    workers = 1

    def map(self, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None = None) -> list[BatchOutcome]:
        out = []
        for b in batches:
            o = guarded(fn, b)
            out.append(o)
            if on_done:
                on_done(o)
        return out


class ThreadExecutor:
    """A thread pool in this process: batches share the loaded bars; the numba kernels run without the GIL."""

    name = "threads"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(self, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None = None) -> list[BatchOutcome]:
        if self.workers == 1 or len(batches) <= 1:
            return SerialExecutor().map(fn, batches, on_done)
        done: dict[int, BatchOutcome] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="adaptrade") as pool:
            futures = [pool.submit(guarded, fn, b) for b in batches]
            for f in as_completed(futures):  # on_done runs here, in the caller's thread
                o = f.result()
                done[o.index] = o
                if on_done:
                    on_done(o)
        return _ordered(done, batches)


class ProcessExecutor:
    """A local process pool; a worker that dies is isolated by re-running its batches alone."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def _pool(self, n: int) -> ProcessPoolExecutor:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(["adaptrade.parallel.warmup"])  # workers fork from a warm server
        return ProcessPoolExecutor(max_workers=n, mp_context=ctx)

    def map(self, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None = None) -> list[BatchOutcome]:
        done: dict[int, BatchOutcome] = {}

        def finish(o: BatchOutcome) -> None:
            done[o.index] = o
            if on_done:
                on_done(o)

        todo = list(batches)
        suspects: list[Batch] = []
        while todo:
            todo, broken = self._run(fn, todo, finish)
            suspects += broken
        for b in suspects:  # each alone: a batch that kills its worker again is failed, the rest run
            _, again = self._run(fn, [b], finish, workers=1)
            if again:
                finish(_died(b, "worker process died (killed or crashed) while running this batch"))
        return _ordered(done, batches)

    def _run(self, fn: BatchFn, todo: list[Batch], finish: OnDone, workers: int | None = None) -> tuple[list[Batch], list[Batch]]:
        """Run until done or the pool breaks: (batches never started, batches in flight at the break)."""
        queue = list(todo)
        running: dict[Future[BatchOutcome], Batch] = {}
        pool = self._pool(workers or self.workers)
        try:
            while queue or running:
                while queue and len(running) < (workers or self.workers):  # bounded: suspects are known
                    b = queue.pop(0)
                    running[pool.submit(partial(guarded, fn), b)] = b
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = []
                for f in ready:
                    b = running.pop(f)
                    try:
                        finish(f.result())
                    except BrokenProcessPool:
                        broken.append(b)
                if broken:
                    return queue, broken + list(running.values())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [], []


# Worker settings for the LocalCluster this process starts (workers of a running scheduler keep
# their own). Measured, each about 2x per batch on this CPU-bound, array-allocating work
# (docs/performance.md, "Research"): the 10 ms stack-sampling profiler (the numba kernel holds
# the GIL) and the nanny's MALLOC_TRIM_THRESHOLD_=65536 (large arrays then come from fresh mmap
# pages every time).
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.interval": "1s",
    "distributed.worker.profile.cycle": "10s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


class DaskExecutor:
    """Dask distributed: a running scheduler (`tcp://host:port`) or a LocalCluster of processes."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.scheduler = scheduler

    def map(self, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None = None) -> list[BatchOutcome]:
        import dask
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        with dask.config.set(LOCAL_WORKER_CONFIG):
            try:
                if self.scheduler:
                    try:
                        client = Client(self.scheduler, timeout="10s")
                    except (OSError, TimeoutError) as exc:
                        raise ConfigError(f"cannot reach Dask scheduler {self.scheduler}: {exc}", field="scheduler") from None
                else:
                    cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=40)
                    client = Client(cluster)
                with client:
                    return self._map(client, as_completed, fn, batches, on_done)
            finally:
                if cluster is not None:
                    cluster.close()

    @staticmethod
    def _map(client: object, as_completed: Callable, fn: BatchFn, batches: Sequence[Batch], on_done: OnDone | None) -> list[BatchOutcome]:
        futures = {client.submit(guarded, fn, b, pure=False, retries=0): b for b in batches}  # type: ignore[attr-defined]
        done: dict[int, BatchOutcome] = {}
        for f in as_completed(list(futures)):
            b = futures[f]
            if f.status == "finished":
                o = f.result()
            else:  # KilledWorker (the worker died allowed-failures+1 times) or a lost task
                exc = f.exception()
                o = _died(b, f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300])
            done[b.index] = o
            if on_done:
                on_done(o)
        return _ordered(done, batches)


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None, work: int = 0) -> Executor:
    """The executor for a flag value; `auto`: a scheduler means dask, else a thread pool (one thread per core or --workers)."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor '{name}' ({'|'.join(EXECUTORS)})", field="executor")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1", field="workers")
    if scheduler and name not in ("auto", "dask"):
        raise ConfigError(f"--scheduler needs --executor dask (got {name})", field="scheduler")
    if scheduler and not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise ConfigError(f"scheduler address '{scheduler}' should look like tcp://HOST:PORT", field="scheduler")
    if name == "auto":
        name = "dask" if scheduler else "threads"
    if name == "serial":
        return SerialExecutor()
    if name == "threads":
        return ThreadExecutor(workers)
    if name == "processes":
        return ProcessExecutor(workers)
    return DaskExecutor(workers, scheduler)
