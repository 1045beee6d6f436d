"""Peak memory and wall time of the whole command as the universe grows: 500 .. 20,000 synthetic stocks x 2,520 bars.

Each size runs `adaptrade backtest --source synthetic --stocks N --bars 2520 --out DIR --no-store` in a fresh
process and records its peak RSS (ru_maxrss of the child, from os.wait4) and wall time, next to
`parallel.runner.estimate_stream_bytes` (the streamed model that refuses runs too big for the machine) and the
whole-universe model `estimate_memory_bytes` (portfolio mode, processes / Dask). Per-stock runs stream batch by
batch (parallel/stream.py, reports/stream.py), so peak RSS should stay flat; time per stock-bar shows whether
time grows linearly. Records the "Memory" section of docs/performance.md unless --no-write.

    .venv/bin/python benchmarks/memory.py [--sizes 500,2000,5000,10000,20000] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
HEADING = "## Memory"
BARS = 2520
TARGET_MB = 2048  # issue 12: 20,000 x 2,520 under 2 GB peak RSS


def run_once(out: Path, stocks: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one CLI run in a child process."""
    cmd = [sys.executable, "-m", "adaptrade", "backtest", "--source", "synthetic", "--stocks", str(stocks),
           "--bars", str(BARS), "--out", str(out / "o"), "--no-store"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{stocks} stocks: command failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, ru.ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,2000,5000,10000,20000")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from adaptrade.parallel.runner import estimate_memory_bytes, estimate_stream_bytes, stream_in_flight
    from adaptrade.settings import Settings

    flight = stream_in_flight(Settings())

    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        run_once(Path(d), 10)  # warm caches
        for n in [int(x) for x in a.sizes.split(",") if x]:
            wall, rss = run_once(Path(d), n)
            rows.append((n, wall, rss, estimate_stream_bytes(n, BARS, 50, flight) / 2**20, estimate_memory_bytes(n, BARS) / 2**20))
            print(f"{n} stocks: {wall:.2f} s, {rss:.0f} MB", flush=True)
    lines = [HEADING, "",
             f"`python benchmarks/memory.py` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores shared with other jobs, "
             f"Python {platform.python_version()}): `adaptrade backtest --source synthetic --stocks N --bars {BARS} --out DIR --no-store`, "
             f"one run per size, fresh process, numba cache warm; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.", "",
             "| stocks x bars | wall (s) | ns per stock-bar | marginal ns per stock-bar | peak RSS (MB) | streamed estimate (MB) | whole-universe model (MB) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    prev = None
    for n, wall, rss, est, whole in rows:
        marg = f"{(wall - prev[1]) / ((n - prev[0]) * BARS) * 1e9:.0f}" if prev else ""
        lines.append(f"| {n:,} x {BARS:,} | {wall:.2f} | {wall / (n * BARS) * 1e9:.0f} | {marg} | {rss:.0f} | {est:.0f} | {whole:.0f} |")
        prev = (n, wall)
    big = [r for r in rows if r[0] >= 20_000]
    verdict = (f"20,000 x {BARS:,}: {big[0][2]:.0f} MB peak against the {TARGET_MB} MB target"
               if big else "20,000 stocks not run this time")
    lines += ["", f"{verdict}. Per-stock runs stream: a few batches of 50 stocks are in memory at once (one per worker "
              "thread, one queued, one being written), each batch's equity row groups and trades/params rows go to the files "
              "as it ends, and only the per-stock summary rows and the report's running average curves are kept. "
              "*Marginal* = extra wall per extra stock-bar from the previous size (start-up excluded), the linearity check. "
              "Portfolio mode, `--executor processes|dask` and archive bars (loaded once: the run's calendar is the union of "
              "every file's dates) still hold the whole universe (the whole-universe model)."]
    section = "\n".join(lines) + "\n"
    print(section)
    if not a.no_write:
        text = DOC.read_text() if DOC.exists() else "# Performance\n"
        pat = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
        text = pat.sub(lambda _: section + "\n", text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
        DOC.write_text(text)
        print(f"updated {DOC}")


if __name__ == "__main__":
    main()
