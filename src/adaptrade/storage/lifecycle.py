"""A stored run's life around the work of a command: recorded `running` before the work starts,
a heartbeat while it runs, `complete` with its data in one transaction, `failed` with the
message on an exception. The store is opened only briefly each time, so a DuckDB file stays
readable (`runs list`) while a long backtest runs."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from adaptrade.storage.backend import first_line, store_target

if TYPE_CHECKING:
    import pandas as pd

F = TypeVar("F", bound=Callable[..., Any])


class RecordedRun:
    """One run being recorded in the store `target`; `save` completes it."""

    def __init__(self, target: str, kind: str, settings: Any, info: dict[str, Any] | None = None, key: str | None = None,
                 run_id: str | None = None) -> None:
        from adaptrade.storage.runs import RunStore

        self.target, self.settings, self.key = target, settings, key
        self._timeout = float(getattr(settings, "store_lock_timeout", 30.0))
        with RunStore(target, lock_timeout=self._timeout) as rs:  # a fixed run_id (a paper session) resumes its own row
            self.run_id = rs.start(kind, info, key) if run_id is None else rs.resume(run_id, kind, info)
        self._stop = threading.Event()
        self._writing = threading.Lock()  # a beat never updates the row under a write's transaction (DuckDB conflicts)
        self._beat = threading.Thread(target=self._beating, args=(float(getattr(settings, "heartbeat_seconds", 5.0)),), daemon=True)
        self._beat.start()
        self.saved = False

    def _beating(self, every: float) -> None:
        """Refresh the heartbeat every `every` seconds until stopped (a busy store skips a beat)."""
        from adaptrade.storage.runs import RunStore

        while not self._stop.wait(every):
            try:
                with self._writing, RunStore(self.target, lock_timeout=min(every, 2.0)) as rs:
                    rs.heartbeat(self.run_id)
            except Exception:  # noqa: BLE001 - a missed beat is not an error; staleness shows it
                pass

    def stop(self) -> None:
        """Stop the heartbeat (before the final write, so the thread never holds the file then)."""
        self._stop.set()
        self._beat.join(timeout=10)

    def save(self, result: Any, summary: dict[str, Any], extra: dict[str, pd.DataFrame] | None = None) -> str:
        """Write the run's data and mark it complete, in one transaction; returns the run id."""
        from adaptrade.storage.runs import RunStore

        self.stop()
        with RunStore(self.target, lock_timeout=self._timeout) as rs:
            rs.save(result, summary, extra=extra, run_id=self.run_id, key=self.key)
        self.saved = True
        return self.run_id

    def write(self, tables: dict[str, pd.DataFrame], info: dict[str, Any], summary: dict[str, Any], complete: bool) -> None:
        """Replace the run's rows by `tables` (RunStore.save_tables); `complete` also ends the heartbeat."""
        from adaptrade.storage.runs import RunStore

        if complete:
            self.stop()
        with self._writing, RunStore(self.target, lock_timeout=self._timeout) as rs:
            rs.save_tables(self.run_id, tables, info, summary, complete)
        self.saved = complete

    def fail(self, exc: BaseException) -> None:
        """Record the failure (best effort: the original error is what the user must see)."""
        from adaptrade.storage.runs import RunStore

        self.stop()
        try:
            with RunStore(self.target, lock_timeout=self._timeout) as rs:
                rs.fail(self.run_id, f"{type(exc).__name__}: {first_line(exc)}")
        except Exception:  # noqa: BLE001
            pass


def recorded(kind: str) -> Callable[[F], F]:
    """Decorate a command step taking `settings` and `store` arguments: with `store` true, a run is
    recorded `running` before it starts and passed as the `rec` keyword (call `rec.save(...)`);
    an exception marks the run failed and propagates."""

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind_partial(*args, **kwargs)
            settings, store = bound.arguments.get("settings"), bound.arguments.get("store")
            if not store or settings is None:
                return fn(*args, **kwargs)
            rec = RecordedRun(store_target(settings), kind, settings, {"kind": kind})
            try:
                out = fn(*args, rec=rec, **kwargs)
            except BaseException as exc:
                if not rec.saved:
                    rec.fail(exc)
                raise
            finally:
                rec.stop()
            return out

        return inner  # type: ignore[return-value]

    return wrap
