"""Time synthetic generation and the feature kernels on 500 symbols x 2,520 bars; record in docs/performance.md.

Run: .venv/bin/python benchmarks/synthetic_gen.py [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

HEADING = "## Synthetic data and features"
DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
N_SYMBOLS, N_BARS, SEED, REPEATS = 500, 2520, 42, 5


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall time of `repeats` calls, after one warm-up call (JIT, caches)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure() -> list[tuple[str, float]]:
    """(label, seconds) rows for the table."""
    t0 = time.perf_counter()
    from adaptrade.data.calendar import nyse_sessions

    nyse_sessions("2024-03-08", 10)
    cal_first = time.perf_counter() - t0

    from adaptrade.data.features import average_daily_volume, rolling_volatility, rsi_stack
    from adaptrade.data.synthetic import generate

    symbols = [f"SYN{i:04d}" for i in range(N_SYMBOLS)]
    bars = generate(symbols, N_BARS, SEED)
    return [
        ("XNYS calendar, first call only (then cached)", cal_first),
        (f"generate {N_SYMBOLS} x {N_BARS} (mean_reversion=True)", best_of(lambda: generate(symbols, N_BARS, SEED))),
        (
            f"generate {N_SYMBOLS} x {N_BARS} (mean_reversion=False)",
            best_of(lambda: generate(symbols, N_BARS, SEED, mean_reversion=False)),
        ),
        (f"rsi_stack {N_SYMBOLS} x {N_BARS} x 12 periods", best_of(lambda: rsi_stack(bars.close, bars.valid))),
        (f"rolling_volatility {N_SYMBOLS} x {N_BARS}, window 20", best_of(lambda: rolling_volatility(bars.close, bars.valid))),
        (f"average_daily_volume {N_SYMBOLS} x {N_BARS}, window 20", best_of(lambda: average_daily_volume(bars.volume, bars.valid))),
    ]


def table(rows: list[tuple[str, float]]) -> str:
    """A Markdown table of the timings in milliseconds."""
    lines = ["| step | best of 5 (ms) | M bars/s | target |", "| --- | ---: | ---: | --- |"]
    for label, sec in rows:
        if label.startswith("XNYS"):
            lines.append(f"| {label} | {sec * 1e3:.1f} | | |")
            continue
        rate = N_SYMBOLS * N_BARS / sec / 1e6
        target = ">= 20M bars/s" if label.startswith("generate") else ""
        lines.append(f"| {label} | {sec * 1e3:.1f} | {rate:.1f} | {target} |")
    return "\n".join(lines)


def section(rows: list[tuple[str, float]]) -> str:
    """The docs/performance.md section owned by this benchmark."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}, numpy {np.__version__}"
    return (
        f"{HEADING}\n\n"
        f"Measured by `benchmarks/synthetic_gen.py` ({machine}; shared machine). Generation runs 64-symbol chunks on a "
        "thread pool: numpy's normals per symbol stream, one compiled pass per chunk for the log prices, OU path and bar shape, "
        "numpy's exponentials in place (every step releases the GIL; bit-identical to one chunk and to the whole-array numpy "
        "formulas, tests/data/test_synthetic.py), the feature kernels are single-threaded "
        "here (the backtest runs them per batch on the executor's threads). "
        "Times are the best of 5 after a warm-up call, so numba compilation and the XNYS calendar "
        "construction are excluded except in the first row.\n\n"
        f"{table(rows)}\n"
    )


def write_section(text: str, path: Path = DOC) -> None:
    """Replace (or append) only this benchmark's section of docs/performance.md, leaving others intact."""
    doc = path.read_text() if path.exists() else "# Performance\n"
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == HEADING), None)
    if start is None:
        new = doc.rstrip("\n") + "\n\n" + text
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    rows = measure()
    print(table(rows))
    if not args.no_write:
        write_section(section(rows))
        print(f"\nwrote section '{HEADING}' in {DOC}")


if __name__ == "__main__":
    main()
