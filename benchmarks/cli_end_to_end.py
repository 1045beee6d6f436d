"""Whole-command timing: `adaptrade backtest --source synthetic --stocks 500 --bars 2520` from the
shell, start-up, data, strategy, metrics and every output file included, with a warm numba cache.

Prints wall time (best and median of 5) and peak memory (max RSS), and records them in
docs/performance.md under "Whole command".
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Whole command"


def run_once(out: Path, stocks: int, bars: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one CLI run in a child process."""
    cmd = [sys.executable, "-m", "adaptrade", "backtest", "--source", "synthetic", "--stocks", str(stocks), "--bars", str(bars), "--out", str(out / "o"), "--db", str(out / "runs.duckdb")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, ru.ru_maxrss / 1024.0


def main() -> None:
    rows = []
    for stocks, bars in ((50, 2520), (100, 2520), (500, 2520)):
        with tempfile.TemporaryDirectory() as d:
            run_once(Path(d), stocks, bars)  # warm numba cache and OS file cache
            samples = [run_once(Path(d), stocks, bars) for _ in range(5)]
        walls = [s[0] for s in samples]
        rss = max(s[1] for s in samples)
        rows.append((stocks, bars, min(walls), statistics.median(walls), rss))
    lines = [
        SECTION,
        "",
        "`python benchmarks/cli_end_to_end.py`: `adaptrade backtest --source synthetic --stocks N --bars T --out DIR --db FILE`",
        "in a fresh process (interpreter start-up, imports, data generation, features, strategy, metrics,",
        "summary/stocks/trades/params CSVs, equity.parquet, report.html, DuckDB store), numba cache warm.",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| stocks x bars | best wall (s) | median wall (s) | peak RSS (MB) | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for stocks, bars, best, med, rss in rows:
        target = "< 3 s, < 1 GB" if stocks == 500 else ""
        lines.append(f"| {stocks} x {bars} | {best:.2f} | {med:.2f} | {rss:.0f} | {target} |")
    text = "\n".join(lines) + "\n"
    print(text)
    perf = ROOT / "docs" / "performance.md"
    old = perf.read_text() if perf.exists() else "# Performance\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
    perf.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
