#!/usr/bin/env python3
"""Benchmark archive loading: all shared symbols cold (empty cache) and warm, each in a fresh process.

Prints a table (seconds, rows/s, cache size) and writes the section "Archive loading" of
docs/performance.md (replacing an older version of that section, leaving the others alone).

Usage: .venv/bin/python benchmarks/load_archive.py [--data ../shared/data] [--repeat 3] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
SECTION = "## Archive loading"


def child(data: Path, cache: str, what: str) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    t0 = time.perf_counter()
    from adaptrade.data.archive import check_archive, load_archive

    t1 = time.perf_counter()
    cache_dir = Path(cache) if cache else None
    if what == "check":
        report = check_archive(data, cache_dir=cache_dir)
        shape = (len(report.symbols), 0)
    else:
        bars, report = load_archive(data, cache_dir=cache_dir)
        shape = bars.close.shape
        del bars
    t2 = time.perf_counter()
    again = None
    if what == "load" and cache_dir is not None:  # a second load in the same process (modules, calendar warm)
        t3 = time.perf_counter()
        load_archive(data, cache_dir=cache_dir)
        again = time.perf_counter() - t3
    print(json.dumps({"import": t1 - t0, "seconds": t2 - t1, "rows": report.totals["rows"], "shape": shape,
                      "again": again}))


def measure(data: Path, cache: str, what: str = "load") -> dict:
    """Run `child` in a new interpreter and return its JSON."""
    cmd = [sys.executable, __file__, "--child", what, "--data", str(data), "--cache", cache]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine() -> str:
    """nproc, CPU model, Python and library versions."""
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    libs = ", ".join(f"{name} {version(name)}" for name in ("numpy", "pandas", "pyarrow", "exchange-calendars"))
    return (f"{len(os.sched_getaffinity(0))} CPUs (nproc), {cpu}, {platform.machine()}, "
            f"Python {platform.python_version()}, {libs}")


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/performance.md")
    ap.add_argument("--child", choices=("load", "check"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.data, args.cache, args.child)
        return 0
    if not (args.data / "ohlcv" / "daily").is_dir():
        print(f"shared data not found at {args.data}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="adaptrade-bench-"))
    try:
        cache = tmp / "cache"
        cold = []
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(measure(args.data, str(cache)))
        size = dir_mb(cache)
        warm = [measure(args.data, str(cache)) for _ in range(args.repeat)]
        nocache = [measure(args.data, "") for _ in range(args.repeat)]
        check = [measure(args.data, str(cache), "check") for _ in range(args.repeat)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = cold[0]["rows"]
    n, t = cold[0]["shape"]
    best = lambda runs, key="seconds": min(r[key] for r in runs)  # noqa: E731
    table = [
        ("cold: parse + check + repair + align, build XNYS calendar, write cache", best(cold)),
        ("no cache (cache_dir=None): parse + check + repair + align, build calendar", best(nocache)),
        ("warm: from cache, fresh process", best(warm)),
        ("warm: from cache, second load in the same process", best(warm, "again")),
        ("`data check` work (no Bars), from cache, fresh process", best(check)),
    ]
    lines = [
        SECTION,
        "",
        f"Measured by `benchmarks/load_archive.py` on {time.strftime('%Y-%m-%d')}: {machine()}. "
        f"Shared machine (other jobs running), so each figure is the best of {args.repeat} runs, each in a "
        f"fresh interpreter; import time of `adaptrade.data.archive` (about {best(warm, 'import'):.2f} s) is "
        "excluded. The source files are in the OS page cache after the first run (48 MB of gzip CSV).",
        "",
        f"All {n} shared symbols (`ohlcv/daily` + `ohlcv/daily_extended`), {rows:,} rows, aligned to "
        f"{n} x {t} `Bars`; policy `drop`. Cache: one Parquet (lz4) per source file, {size:.1f} MB.",
        "",
        "| load | seconds | rows/s |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {sec:.3f} | {rows / sec:,.0f} |" for name, sec in table],
        "",
        "Cache layout measured before choosing (500 files, warm OS cache): one Parquet per source file "
        "0.11-0.3 s to read, one combined Parquet 0.08-0.16 s. Per-file was kept: a changed file "
        "invalidates one entry instead of the whole pack, and concurrent workers never rewrite a shared file.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        text = DOC.read_text() if DOC.exists() else f"# Performance\n\nMachine: {machine()}.\n\n"
        pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
        text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
        DOC.write_text(text.rstrip("\n") + "\n")
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
