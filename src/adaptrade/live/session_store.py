"""A paper session recorded as a run in the store (storage/lifecycle.py): `running` with host, pid and
heartbeat before its first session; its trades, params, orders and fills (the `--out` CSVs' rows)
replaced at every journal compaction, so the store trails the session by at most
ADAPTRADE_PAPER_COMPACT_EVERY sessions; `complete` in the transaction of the last write; `failed` on an
error. The run id comes from the session name, so a restarted session rewrites its own run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from adaptrade.errors import ConfigError, StoreError
from adaptrade.live.outputs import paper_frames, store_frames
from adaptrade.storage.backend import display
from adaptrade.storage.lifecycle import RecordedRun

RUN_PREFIX = "paper-"
FINAL = ("done", "killed")


def paper_run_id(session: str) -> str:
    """The run id of paper session `session` (the same after every restart)."""
    return f"{RUN_PREFIX}{session}"


def run_info(meta: dict[str, Any], session: str, folder: Path, feed: str, mode: str) -> dict[str, Any]:
    """The settings stored with the run: the session's own (meta), mode 'paper' and what kind of paper session."""
    info = {k: v for k, v in meta.items() if k not in ("symbols", "mode")}
    info.update(mode="paper", paper_mode=mode, feed=feed, session=session, paper_folder=str(folder.resolve()),
                stocks=len(meta["symbols"]), symbols=list(meta["symbols"]), fill="next_open")
    return info


class SessionRecorder:
    """The store side of one paper session; called by the loop at each compaction (`loop.recorder`)."""

    def __init__(self, target: str, settings: Any, session: str, info: dict[str, Any], console: Any,
                 tables: Callable[[Any], dict[str, pd.DataFrame]] | None = None) -> None:
        self.target, self.info, self.console = target, info, console
        self._tables = tables or paper_frames  # portfolio mode: its own (live/portfolio_loop.py portfolio_frames)
        self.run_id = paper_run_id(session)
        self._check_owner(settings)
        self.rec = RecordedRun(target, "paper", settings, info, run_id=self.run_id)
        self._warned = False

    def _check_owner(self, settings: Any) -> None:
        """Refuse a run id that another session folder (same name, other --paper-dir) already records."""
        from adaptrade.storage.runs import RunStore

        with RunStore(self.target, lock_timeout=float(settings.store_lock_timeout)) as rs:
            rows = rs.backend.fetchall("SELECT settings FROM runs WHERE id = ?", [self.run_id])
        if not rows:
            return
        owner = json.loads(rows[0][0] or "{}").get("paper_folder")
        if owner is not None and owner != self.info["paper_folder"]:
            raise ConfigError(f"run {self.run_id} in {display(self.target)} records the session in {owner}; use another "
                              "--session name or --db", field="session")

    def __call__(self, loop: Any) -> None:
        """Replace the run's rows by the session's tables; `complete` once the session is done or killed. A failed
        write before the end is a warning (the next compaction retries); at the end it is the command's error."""
        final = loop.doc["status"] in FINAL
        try:
            tables = self.tables(loop)
            self.rec.write(tables, self.info, self.summary(loop, tables), complete=final)
        except StoreError as exc:
            if final:
                raise
            if not self._warned:
                self.console.print(f"[yellow]warning:[/yellow] the store lags this session: {exc}")
                self._warned = True

    def tables(self, loop: Any) -> dict[str, pd.DataFrame]:
        """trades, params, orders, fills with the backtest's stored dtypes."""
        return store_frames(self._tables(loop))

    @staticmethod
    def summary(loop: Any, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
        """Where the session stands: status, sessions played, the last one, rows stored per table."""
        doc, sessions = loop.doc, loop.feed.sessions
        cur = int(doc["cursor"])
        return {"session_status": doc["status"], "sessions_played": cur,
                "last_session": str(sessions[cur - 1]) if cur > 0 else None, **{k: len(v) for k, v in tables.items()}}

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed (best effort: the session's own error is what the user sees)."""
        if not self.rec.saved:
            self.rec.fail(exc)
        self.rec.stop()
