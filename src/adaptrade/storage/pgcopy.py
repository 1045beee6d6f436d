"""PostgreSQL bulk I/O without per-row Python work: Arrow columns encoded into the binary COPY
format with numpy (writes), and query results streamed out as CSV by COPY and parsed by Arrow
(reads)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numba import njit

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
CHUNK = 200_000  # rows per encoded block (bounded memory)
_FIXED = {"double precision": (">f8", 8), "bigint": (">i8", 8), "integer": (">i4", 4), "boolean": ("u1", 1),
          "timestamp without time zone": (">i8", 8)}


def _column(col: Any, typ: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid mask, byte offsets n+1, payload bytes) of one Arrow column in PostgreSQL binary form;
    a fixed-width column is the same thing with equal steps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    valid = np.ones(n, np.bool_) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    if typ in _FIXED:
        code, width = _FIXED[typ]
        if typ.startswith("timestamp"):
            vals = pc.cast(arr, pa.timestamp("us")).cast(pa.int64()).fill_null(0).to_numpy() - PG_EPOCH_US
        elif typ == "boolean":
            vals = arr.cast(pa.bool_()).fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        else:
            target = {"double precision": pa.float64(), "bigint": pa.int64(), "integer": pa.int32()}[typ]
            vals = arr.cast(target).fill_null(0).to_numpy()
        data = np.ascontiguousarray(vals.astype(code)).view(np.uint8)
        return valid, np.arange(n + 1, dtype=np.int64) * width, data
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    arr = arr.cast(pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + n + 1]
    blob = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return valid, offsets - offsets[0], blob[offsets[0]: offsets[-1]] if n else blob[:0]


@njit(cache=True)
def _fill(buf: np.ndarray, starts: np.ndarray, blob: np.ndarray, offs: np.ndarray, valid: np.ndarray) -> None:  # pragma: no cover - compiled
    """Write each tuple: field count, then per field its big-endian length (-1 for NULL) and bytes."""
    ncol, n = valid.shape
    for i in range(n):
        p = starts[i]
        buf[p] = (ncol >> 8) & 255
        buf[p + 1] = ncol & 255
        p += 2
        for c in range(ncol):
            if not valid[c, i]:
                buf[p] = 255
                buf[p + 1] = 255
                buf[p + 2] = 255
                buf[p + 3] = 255
                p += 4
                continue
            a = offs[c, i]
            ln = offs[c, i + 1] - a
            buf[p] = (ln >> 24) & 255
            buf[p + 1] = (ln >> 16) & 255
            buf[p + 2] = (ln >> 8) & 255
            buf[p + 3] = ln & 255
            p += 4
            for k in range(ln):
                buf[p + k] = blob[a + k]
            p += ln


def encode(table: Any, types: list[str]) -> bytes:
    """The tuples of `table` (whose columns have PostgreSQL types `types`) in binary COPY form, no header."""
    n, ncol = table.num_rows, table.num_columns
    cols = [_column(c, t) for c, t in zip(table.columns, types)]
    valid = np.stack([c[0] for c in cols]) if cols else np.zeros((0, n), np.bool_)
    base = np.cumsum([0] + [len(c[2]) for c in cols[:-1]]).astype(np.int64)
    offs = np.stack([c[1] + b for c, b in zip(cols, base)]) if cols else np.zeros((0, n + 1), np.int64)
    blob = np.concatenate([c[2] for c in cols]) if cols else np.zeros(0, np.uint8)
    lens = np.where(valid, np.diff(offs, axis=1), 0)
    rowlen = 2 + 4 * ncol + lens.sum(axis=0)
    starts = np.zeros(n, np.int64)
    np.cumsum(rowlen[:-1], out=starts[1:])
    buf = np.empty(int(rowlen.sum()), np.uint8)
    _fill(buf, starts, blob, offs, valid)
    return buf.tobytes()


def copy_in(backend: Any, table: str, data: Any) -> None:
    """Append the Arrow table `data` to `table` by one binary COPY (encoded in blocks of CHUNK rows)."""
    have = backend.columns(table)
    names = list(data.column_names)
    types = [have[c] for c in names]
    cols = ", ".join(f'"{c}"' for c in names)
    with backend.con.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN (FORMAT BINARY)') as cp:
        cp.write(HEADER)
        for a in range(0, data.num_rows, CHUNK):
            cp.write(encode(data.slice(a, CHUNK), types))
        cp.write(TRAILER)


def _arrow_type(oid: int) -> Any:
    """The Arrow type a PostgreSQL type oid is read as (unknown ones as text)."""
    import pyarrow as pa

    return {16: pa.bool_(), 20: pa.int64(), 21: pa.int32(), 23: pa.int32(), 700: pa.float64(), 701: pa.float64(),
            1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"), 1082: pa.date32(), 1700: pa.float64()}.get(oid, pa.string())


def read_query(backend: Any, sql: str, params: Any = ()) -> Any:
    """A query's rows as an Arrow table: COPY (query) TO STDOUT as CSV, parsed by pyarrow.csv."""
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with psycopg.ClientCursor(backend.con) as cur:
        text = cur.mogrify(backend._sql(sql), list(params)) if params else sql
        cur.execute(f"SELECT * FROM ({text}) AS q LIMIT 0")
        desc = cur.description or []
        names = [d.name for d in desc]
        types = {d.name: _arrow_type(d.type_code) for d in desc}
        out = io.BytesIO()
        with cur.copy(f"COPY ({text}) TO STDOUT (FORMAT CSV, HEADER false, NULL '\\N')") as cp:
            for block in cp:
                out.write(block)
    if not names:
        return pa.table({})
    raw = out.getvalue()
    if not raw:
        return pa.table({n: pa.array([], type=types[n]) for n in names})
    tz_cols = [n for n, t in types.items() if pa.types.is_timestamp(t) and t.tz]
    conv = pcsv.ConvertOptions(column_types={n: (pa.string() if n in tz_cols else t) for n, t in types.items()},
                               null_values=["\\N"], strings_can_be_null=True, quoted_strings_can_be_null=False,
                               true_values=["t"], false_values=["f"])
    tbl = pcsv.read_csv(io.BytesIO(raw), read_options=pcsv.ReadOptions(column_names=names), convert_options=conv,
                        parse_options=pcsv.ParseOptions(newlines_in_values=True))
    for n in tz_cols:
        import pyarrow.compute as pc

        tbl = tbl.set_column(names.index(n), n, pc.strptime(tbl[n], format="%Y-%m-%d %H:%M:%S%z", unit="us"))
    return tbl
