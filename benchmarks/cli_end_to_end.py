"""Whole-command timing: `adaptrade backtest --source synthetic --stocks N --bars 2520 --out DIR --db FILE`
from the shell, start-up, data, strategy, metrics and every output file included, numba cache warm.

Prints wall time (best and median of --repeat runs) and peak memory (max RSS) for 10, 100 and 500
stocks, the command's marginal throughput from 10 to 500 stocks, and, measured in the same run,
vectorbt's bare `Portfolio.from_signals` kernel on the same 500 x 2,520 bars (signals precomputed,
best of 3): the ratio of the two is the issue's target (>= 1). Records "Whole command" in
docs/performance.md unless --no-write.

    .venv/bin/python benchmarks/cli_end_to_end.py [--repeat 5] [--no-write]
"""

from __future__ import annotations

import argparse
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
BARS = 2520
SIZES = (10, 100, 500)
TARGET_WALL, TARGET_MB = 1.2, 500.0  # issue 12: 500 x 2,520 with --out


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


def vectorbt_kernel_rate(stocks: int, bars: int) -> float:
    """Bars/s of vectorbt's from_signals alone (RSI(14) 30/70 signals precomputed) on the command's bars."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers

    from adaptrade.data.synthetic import generate
    from adaptrade.parallel.runner import select_symbols, RunRequest

    syms, _ = select_symbols(RunRequest(stocks=stocks, bars=bars), pad=True)
    b = generate(syms, bars, seed=42)
    close = b.close.T
    rsi = np.column_stack([peers.talib_rsi(close[:, j], 14) for j in range(close.shape[1])])
    entries = np.zeros(close.shape, dtype=bool)
    exits = np.zeros(close.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        entries[1:] = rsi[:-1] < 30.0
        exits[1:] = rsi[:-1] > 70.0
    idx = pd.DatetimeIndex(b.dates)
    frames = [pd.DataFrame(a, index=idx, columns=list(b.symbols)) for a in (close, b.open.T, entries, exits)]
    peers.vectorbt_portfolio(*[f.iloc[:50, :5] for f in frames])  # compile / cache load
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        peers.vectorbt_portfolio(*frames)
        best = min(best, time.perf_counter() - t0)
    return stocks * bars / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows = []
    for stocks in SIZES:
        with tempfile.TemporaryDirectory() as d:
            run_once(Path(d), stocks, BARS)  # warm numba cache and OS file cache
            samples = [run_once(Path(d), stocks, BARS) for _ in range(a.repeat)]
        walls = [s[0] for s in samples]
        rows.append((stocks, min(walls), statistics.median(walls), max(s[1] for s in samples)))
    vbt = vectorbt_kernel_rate(SIZES[-1], BARS)
    lo, hi = rows[0], rows[-1]
    marginal = (hi[0] - lo[0]) * BARS / max(hi[1] - lo[1], 1e-9)  # best walls
    ratio = marginal / vbt
    lines = [
        SECTION,
        "",
        f"`python benchmarks/cli_end_to_end.py` ({time.strftime('%Y-%m-%d')}): `adaptrade backtest --source synthetic --stocks N --bars {BARS} --out DIR --db FILE`",
        "in a fresh process (interpreter start-up, imports, data generation, features, strategy, metrics,",
        "summary/stocks/trades/params CSVs, equity.parquet, report.html, DuckDB store), numba cache warm, default executor (threads).",
        f"Machine: {os.cpu_count()} cores shared with other jobs (best of {a.repeat} is the fairer number), Python {platform.python_version()}; "
        f"1-minute load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (above 2, other jobs take the cores and walls stretch).",
        "",
        "| stocks x bars | best wall (s) | median wall (s) | peak RSS (MB) | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for stocks, best, med, rss in rows:
        target = f"< {TARGET_WALL} s, < {TARGET_MB:.0f} MB" if stocks == 500 else ""
        lines.append(f"| {stocks} x {BARS} | {best:.2f} | {med:.2f} | {rss:.0f} | {target} |")
    lines += [
        "",
        f"Marginal throughput {lo[0]} -> {hi[0]} stocks (best walls): {marginal / 1e6:.2f}M bars/s. "
        f"vectorbt bare `from_signals` on the same {hi[0]} x {BARS} bars, same run: {vbt / 1e6:.2f}M bars/s. "
        f"Ratio {ratio:.2f} (target >= 1).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.no_write:
        return
    perf = ROOT / "docs" / "performance.md"
    old = perf.read_text() if perf.exists() else "# Performance\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
    perf.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
