"""Converted Parquet cache of archive files: one Parquet per source file, keyed by path, size and mtime.

An entry holds the source file's rows after the strict checks and before any repair, so one entry
serves every repair policy and jump threshold (repair is vectorised and re-run on each load, a few
milliseconds). The entry's file name carries the key — a hash of the resolved source path, its size
and its mtime_ns — so a changed or touched source file simply misses and is re-read; the stale entry
is deleted when its replacement is written. Writes go to a temporary file renamed into place, so a
crash never leaves a half-written entry, and concurrent loaders (executor workers) never conflict.
"""

from __future__ import annotations

import glob
import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from adaptrade.data.validate import Columns

CACHE_VERSION = 1


class ArchiveCache:
    """Per-source-file Parquet entries under `root/archive/v<CACHE_VERSION>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "archive" / f"v{CACHE_VERSION}"

    def _names(self, source: Path) -> tuple[str, str]:
        """(prefix shared by every version of this source, full entry name for its current size and mtime)."""
        st = os.stat(source)
        resolved = str(Path(source).resolve())
        prefix = f"{Path(source).name}.{hashlib.sha1(resolved.encode()).hexdigest()[:12]}"
        return prefix, f"{prefix}.{st.st_size}-{st.st_mtime_ns}.parquet"

    def get(self, source: Path) -> Columns | None:
        """The cached checked columns of `source`, or None if absent, stale or unreadable."""
        _, name = self._names(source)
        try:
            table = pq.ParquetFile(self.dir / name, pre_buffer=False).read(use_threads=False)
        except (OSError, pa.ArrowException):
            return None
        try:
            return {k: _column(table, k) for k in table.column_names}
        except ValueError:
            return None

    def put(self, source: Path, cols: Columns) -> None:
        """Store `cols` for the current version of `source` atomically and drop its older versions."""
        prefix, name = self._names(source)
        self.dir.mkdir(parents=True, exist_ok=True)
        arrays = {k: pa.array(a, type=pa.date32()) if k == "date" else pa.array(a) for k, a in cols.items()}
        tmp = self.dir / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            pq.write_table(pa.table(arrays), tmp, compression="lz4", store_schema=False, use_dictionary=False,
                           write_statistics=False)  # prices rarely repeat: dictionaries cost 2x write time
            os.replace(tmp, self.dir / name)
        finally:
            tmp.unlink(missing_ok=True)
        for old in self.dir.glob(f"{glob.escape(prefix)}.*.parquet"):
            if old.name != name:
                old.unlink(missing_ok=True)


def _column(table: pa.Table, name: str) -> np.ndarray:
    """A date32 or float64 column as numpy straight from its buffer (pyarrow's to_numpy imports pandas)."""
    col = table.column(name)
    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    if arr.null_count or not (pa.types.is_date32(arr.type) or pa.types.is_float64(arr.type)):
        raise ValueError(f"unexpected cached column {name}: {arr.type}")
    dtype = np.dtype(np.int32 if pa.types.is_date32(arr.type) else np.float64)
    out = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    return out.astype("datetime64[D]") if dtype == np.int32 else out
