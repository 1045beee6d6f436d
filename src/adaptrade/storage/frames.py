"""Frames in and out of declared tables: Arrow columns cast to the schema's types, written in one
bulk operation; columns the schema does not declare yet kept as JSON in `extra`; pandas dtypes
saved beside so a load gives back an equal frame."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.storage.backend import Backend
from adaptrade.storage.schema import EXTRA, ROW


def arrow_type(logical: str) -> Any:
    """The Arrow type of a logical column type."""
    import pyarrow as pa

    return {"text": pa.string(), "double": pa.float64(), "bigint": pa.int64(), "int": pa.int32(), "bool": pa.bool_(),
            "timestamp": pa.timestamp("us")}[logical]


def _tag_columns(tags: dict[str, Any], n: int) -> dict[str, Any]:
    """The constant `tags` columns (e.g. run_id) of n rows."""
    import pyarrow as pa

    return {k: pa.repeat(pa.scalar(str(v), pa.string()), n) for k, v in tags.items()}


def _row_numbers(row0: int, n: int) -> Any:
    """`_row` of n rows written from row0 on."""
    import pyarrow as pa

    return pa.array(np.arange(row0, row0 + n, dtype=np.int64))


def _check_declared(table: str, names: list[str], declared: dict[str, str], tags: dict[str, Any]) -> None:
    """Arrow and Parquet inputs carry declared columns only (nothing for `extra`)."""
    unknown = [c for c in names if c not in declared or c in tags or c in (ROW, EXTRA)]
    if unknown:
        raise ValueError(f"{table}: columns {unknown} are not declared in the schema")


def to_arrow(df: pd.DataFrame, declared: dict[str, str], tags: dict[str, Any], row0: int = 0) -> Any:
    """`df` as an Arrow table of the declared columns (cast), `_row` (from `row0`), `extra` and the constant `tags` columns."""
    import pyarrow as pa

    n = len(df)
    df = df.reset_index(drop=True)
    cols: dict[str, Any] = _tag_columns(tags, n)
    spill: list[str] = []
    for name in df.columns:
        name = str(name)
        if name not in declared or name in tags or name in (ROW, EXTRA):
            spill.append(name)
            continue
        s = df[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object).where(s.notna(), None)
        try:
            arr = pa.array(s, from_pandas=True)
            if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
                arr = arr.cast(pa.timestamp("us", tz=arr.type.tz)).cast(pa.timestamp("us"))
            cols[name] = arr.cast(arrow_type(declared[name]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            spill.append(name)  # kept as it is, in extra
    cols[ROW] = _row_numbers(row0, n)
    if spill and n:
        lines = df[spill].to_json(orient="records", lines=True, date_format="iso", date_unit="ns").splitlines()
        cols[EXTRA] = pa.array(lines, type=pa.string())
    else:
        cols[EXTRA] = pa.nulls(n, type=pa.string())
    return pa.table(cols)


def write_table(b: Backend, table: str, data: Any, declared: dict[str, str], tags: dict[str, Any], row0: int = 0) -> None:
    """Append the Arrow table `data` (declared columns only) to `table`, cast to the schema's types, with `_row`
    from `row0` and the constant `tags`: the bulk path of frames already in Arrow (no pandas round trip)."""
    import pyarrow as pa

    n = data.num_rows
    if not n:
        return
    _check_declared(table, data.column_names, declared, tags)
    cols = _tag_columns(tags, n)
    for name in data.column_names:
        arr = data.column(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        cols[name] = arr.cast(arrow_type(declared[name]))
    cols[ROW] = _row_numbers(row0, n)
    cols[EXTRA] = pa.nulls(n, type=pa.string())
    b.write_arrow(table, pa.table(cols))


PARQUET_LOAD_MEMORY = "32MB"  # DuckDB's memory limit while it loads a run's equity.parquet (see write_parquet)


def write_parquet(b: Backend, table: str, path: Any, declared: dict[str, str], tags: dict[str, Any]) -> int:
    """Append the Parquet file `path` (declared columns only) to `table` as `write_table` would, its `_row` the
    file's row number; returns its rows. DuckDB reads the file itself (in parallel, no Python per row group);
    PostgreSQL gets it row group by row group."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    names = f.schema_arrow.names
    if b.kind != "duckdb":
        row0 = 0
        for g in range(f.num_row_groups):
            part = f.read_row_group(g)
            write_table(b, table, part, declared, tags, row0)
            row0 += part.num_rows
        return row0
    _check_declared(table, names, declared, tags)
    cols = [f'?::VARCHAR AS "{k}"' for k in tags] + [f'CAST("{c}" AS {b.sql_type(declared[c])}) AS "{c}"' for c in names]
    cols += [f'file_row_number AS "{ROW}"', f'NULL::VARCHAR AS "{EXTRA}"']
    # rows keep their order in `_row` (every read sorts by it), so DuckDB need not keep insertion order: its threads then
    # write their row groups as they finish instead of merging them at the checkpoint (measured: close 0.3 s -> 0.01 s and a
    # third less file for 1.26M rows)
    # and a small buffer pool bounds the load's memory whatever the file's size (measured, 1.26M / 12.6M rows: peak RSS
    # +117 / +255 MB by default, +66 / +67 MB at 32 MB; the small load as fast, the large one 25% slower)
    b.execute("SET preserve_insertion_order = false")
    b.execute(f"SET memory_limit = '{PARQUET_LOAD_MEMORY}'")
    try:
        b.execute(f'INSERT INTO "{table}" BY NAME SELECT {", ".join(cols)} FROM read_parquet(?, file_row_number = true)',
                  [*(str(v) for v in tags.values()), str(path)])
    finally:
        b.execute("RESET preserve_insertion_order")
        b.execute("RESET memory_limit")
    return int(f.metadata.num_rows)


def write(b: Backend, table: str, df: pd.DataFrame, declared: dict[str, str], tags: dict[str, Any], row0: int = 0) -> None:
    """Append `df` to `table` in one bulk write (nothing when it is empty); `row0`: its first `_row` (a table written in parts)."""
    if len(df):
        b.write_arrow(table, to_arrow(df, declared, tags, row0))


def read(b: Backend, table: str, where: str, params: list[Any], dtypes: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows of `table` matching `where`, in saved order, with the saved columns and dtypes."""
    have = b.columns(table)
    names = [c["name"] for c in dtypes]
    sel = [f'"{c}"' for c in names if c in have]
    if EXTRA in have:
        sel.append(f'"{EXTRA}"')
    if not sel:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    df = b.df(f'SELECT {", ".join(sel)} FROM "{table}" WHERE {where} ORDER BY "{ROW}"', params)
    if EXTRA in df:
        ext = df.pop(EXTRA)
        if ext.notna().any():
            parsed = pd.DataFrame([json.loads(x) if isinstance(x, str) else {} for x in ext])
            for c in parsed.columns:
                if c not in df or df[c].isna().all():
                    df[c] = parsed[c].to_numpy()
    return restore(df, dtypes)


def dtypes_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Column names and pandas dtypes (plus categories) so a load rebuilds the same frame."""
    out = []
    for name, dt in df.dtypes.items():
        entry: dict[str, Any] = {"name": str(name), "dtype": str(dt)}
        if isinstance(dt, pd.CategoricalDtype):
            entry["categories"] = [str(c) for c in dt.categories]
        out.append(entry)
    return out


def restore(df: pd.DataFrame, cols: list[dict[str, Any]]) -> pd.DataFrame:
    """Cast loaded columns back to their saved pandas dtypes."""
    out = {}
    for c in cols:
        s = df[c["name"]] if c["name"] in df else pd.Series([None] * len(df), dtype=object)
        if c["dtype"] == "category":
            out[c["name"]] = pd.Categorical(s.astype(object), categories=c.get("categories"))
            continue
        if c["dtype"].startswith("datetime64") and s.dtype == object:
            s = pd.to_datetime(s)
        try:
            out[c["name"]] = s.astype(c["dtype"])
        except (TypeError, ValueError):  # e.g. ints with NULLs: keep the loaded type
            out[c["name"]] = s
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))
