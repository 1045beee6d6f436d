"""Persistence helpers of a paper session, kept inside `live/`: JSON files written atomically (temporary
file, rename), the human-readable event log, file locks and the lease (the state journals: live/journal.py)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from adaptrade.errors import ConfigError


def atomic_write_json(path: Path, doc: Any, fsync: bool = False) -> None:
    """Write `doc` to `path` so that a reader (or a restart after SIGKILL) sees the old or the new file, never half.

    A killed process loses nothing the kernel already has; `fsync` also flushes the file to the disk
    before the rename (the paper journals' compaction, live/journal.py), for a power cut."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True)
    with open(tmp, "w") as fh:
        fh.write(text)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """A JSON file written by `atomic_write_json` (None when absent)."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def journal(path: Path, kind: str, **fields: Any) -> None:
    """Append one event line (kind, time, fields) to the session's journal, for status and tests."""
    line = json.dumps({"event": kind, "at": time.time(), **fields}, default=str)
    with open(path, "a") as fh:
        fh.write(line + "\n")


class FileLock:
    """An exclusive flock on a file, held as a context (the OS drops it when the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def __enter__(self) -> FileLock:
        self._fh = open(self.path, "a+")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


class Lease:
    """One running `paper run` per session: a non-blocking flock held for the process's life plus a
    heartbeat file (pid, time) that `paper status` reads. SIGKILL releases the flock, so a restart works."""

    def __init__(self, folder: Path) -> None:
        self.lock_path = folder / "lease.lock"
        self.heartbeat_path = folder / "heartbeat.json"
        self._fh: Any = None

    def acquire(self, session: str) -> None:
        fh = open(self.lock_path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            hb = read_json(self.heartbeat_path) or {}
            raise ConfigError(f"paper session '{session}' is already running (pid {hb.get('pid', '?')}); "
                              "stop it with `adaptrade paper stop` or wait for it to end", field="session") from None
        self._fh = fh
        self.beat()

    def beat(self, **fields: Any) -> None:
        atomic_write_json(self.heartbeat_path, {"pid": os.getpid(), "at": time.time(), **fields})

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lease (used by `paper status`)."""
        with open(self.lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
