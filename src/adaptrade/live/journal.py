"""A snapshot plus an append-only journal: how a paper session and the sim broker persist each event by
appending one line instead of rewriting a whole document, and stay readable after a SIGKILL.

`<name>.json` is the snapshot (the document and its generation `gen`); `<name>.journal` starts with a
header line `{"gen": g}` and then holds one JSON record per line, the changes made after snapshot g.
Compaction writes snapshot g + 1 (atomically), then replaces the journal by an empty one of generation
g + 1: a kill between the two leaves a journal of an older generation, whose records the snapshot
already holds, so it is ignored. A line is written with one `write` and ends in a newline; a line cut
by a kill (no newline) is ignored when read and cut off before the next append.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from adaptrade.errors import DataError
from adaptrade.live.state import atomic_write_json, read_json


def _dumps(rec: Any) -> bytes:
    return (json.dumps(rec, separators=(",", ":"), allow_nan=True) + "\n").encode()


class Journal:
    """The snapshot and journal files `<name>.json` / `<name>.journal` in `folder` (one writer at a time:
    the session's lease, or the broker's file lock)."""

    def __init__(self, folder: Path, name: str, fsync: bool = True) -> None:
        self.snap_path = folder / f"{name}.json"
        self.path = folder / f"{name}.journal"
        self.fsync = fsync
        self.gen = 0
        self.offset = 0  # end of the last whole line read or written
        self._fd: int | None = None
        self._ino = -1
        self._dirty = False

    def load(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The snapshot (None when there is none) and the journal records made after it, in order."""
        self.close()
        snap = read_json(self.snap_path)
        self.gen = 0 if snap is None else int(snap.get("gen", 0))
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if snap is not None:  # an earlier format's document, or a kill before its first journal existed
                self._new_journal()
            return snap, []
        if snap is None:
            os.close(fd)
            raise DataError("journal without its snapshot: the session's files are incomplete", file=self.snap_path)
        self._fd, self._ino, self.offset = fd, os.fstat(fd).st_ino, 0
        header, recs = self._read_lines(0)
        if not header:  # killed while creating the journal: it holds nothing yet
            self._new_journal()
            return snap, []
        head_gen = int(header[0].get("gen", -1))
        if head_gen > self.gen:
            raise DataError(f"journal generation {head_gen} is newer than its snapshot's ({self.gen})", file=self.path)
        if head_gen < self.gen:  # killed between writing the snapshot and replacing the journal
            self._new_journal()
            return snap, []
        return snap, recs

    def _read_lines(self, start: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Whole lines from `start` on, parsed; the header (when start is 0) apart. Moves `offset`."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size - start, start) if size > start else b""
        end = data.rfind(b"\n") + 1  # a torn last line (no newline yet) is left out
        out: list[dict[str, Any]] = []
        for k, line in enumerate(data[:end].splitlines()):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"not a journal record ({exc.msg}): the file is damaged", file=self.path,
                                row=None if start else k + 1) from None
        self.offset = start + end
        if start == 0:
            return out[:1], out[1:]
        return [], out

    def catch_up(self) -> list[dict[str, Any]] | None:
        """Records another writer appended since this object last read or wrote; None when the journal was
        replaced (compacted) meanwhile, so the caller must `load` again."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        if st.st_ino != self._ino:
            return None
        if st.st_size <= self.offset:
            return []
        return self._read_lines(self.offset)[1]

    def append(self, rec: dict[str, Any]) -> None:
        """Append one record as one line (a torn tail left by a killed writer is cut off first)."""
        assert self._fd is not None, "load() first"
        if os.fstat(self._fd).st_size != self.offset:
            os.ftruncate(self._fd, self.offset)
        data = _dumps(rec)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.offset += len(data)
        self._dirty = True

    def sync(self) -> None:
        """Flush the appends to the disk (fdatasync), when asked to and when there are any."""
        if self._dirty and self.fsync and self._fd is not None:
            os.fdatasync(self._fd)
        self._dirty = False

    def compact(self, doc: dict[str, Any]) -> None:
        """Write `doc` as the next generation's snapshot, then start an empty journal of that generation."""
        self.gen += 1
        atomic_write_json(self.snap_path, {**doc, "gen": self.gen}, fsync=self.fsync)
        self._new_journal()

    def _new_journal(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        header = _dumps({"gen": self.gen})
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        os.write(fd, header)
        if self.fsync:
            os.fdatasync(fd)
        os.replace(tmp, self.path)
        self.close()
        self._fd, self._ino, self.offset, self._dirty = fd, os.fstat(fd).st_ino, len(header), False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_current(folder: Path, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The snapshot and the records after it, for a reader that writes nothing (`paper status`, the API)."""
    snap = read_json(folder / f"{name}.json")
    if snap is None:
        return None, []
    try:
        with open(folder / f"{name}.journal", "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return snap, []
    lines = data[: data.rfind(b"\n") + 1].splitlines()
    try:
        recs = [json.loads(x) for x in lines]
    except json.JSONDecodeError:
        return snap, []  # replaced while being read: the snapshot alone is a consistent (slightly older) view
    if not recs or int(recs[0].get("gen", -1)) != int(snap.get("gen", 0)):
        return snap, []
    return snap, recs[1:]
