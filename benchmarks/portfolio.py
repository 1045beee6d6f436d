"""Time portfolio mode (one account, execution + risk) next to the per-stock mode on 100 and 500
synthetic stocks x 2,520 bars, and the cost of the risk layer; record in docs/performance.md.

Run: .venv/bin/python benchmarks/portfolio.py [--no-write] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from _report import replace_section  # benchmarks/_report.py (run as a script: its folder is on sys.path)

HEADING = "## Portfolio mode"
DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
SIZES, N_BARS, SEED = (100, 500), 2520, 42


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of `repeats` calls after one warm-up call (numba compile and caches excluded)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _cases(bars, feats, pfeats, cfg) -> list[tuple[str, Callable[[], object]]]:
    """The timed calls for one universe: per-stock mode, portfolio features, portfolio with and without risk."""
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.portfolio.engine import PortfolioFeatures, run_portfolio_backtest
    from adaptrade.risk.limits import RiskLimits

    full, off, no_corr = RiskLimits(), RiskLimits.off(), RiskLimits(corr_limit=2.0)
    return [
        ("per-stock all-in: total (features + kernel)", lambda: run_backtest(bars, cfg)),
        ("per-stock all-in: kernel only", lambda: run_backtest(bars, cfg, features=feats)),
        ("portfolio features (RSI, vol, ADV, spread, returns)", lambda: PortfolioFeatures.compute(bars)),
        ("portfolio, all risk rules: total", lambda: run_portfolio_backtest(bars, cfg, full)),
        ("portfolio, all risk rules: loop only", lambda: run_portfolio_backtest(bars, cfg, full, pfeats)),
        ("portfolio, risk rules without correlation: loop only", lambda: run_portfolio_backtest(bars, cfg, no_corr, pfeats)),
        ("portfolio, risk layer off: loop only", lambda: run_portfolio_backtest(bars, cfg, off, pfeats)),
    ]


def measure(repeats: int) -> list[dict[str, object]]:
    """One row per (universe size, engine): seconds, bars/s, and what ran."""
    from adaptrade.backtest.engine import Features
    from adaptrade.portfolio.engine import PortfolioFeatures, run_portfolio_backtest
    from adaptrade.data.synthetic import generate
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    cfg = StrategyConfig()
    rows: list[dict[str, object]] = []
    for n in SIZES:
        bars = generate([f"SYN{i:04d}" for i in range(n)], N_BARS, SEED)
        feats = Features.compute(bars)
        pfeats = PortfolioFeatures.compute(bars, feats)
        cases = _cases(bars, feats, pfeats, cfg)
        for label, fn in cases:
            sec = best_of(fn, repeats)
            rows.append({"stocks": n, "case": label, "seconds": sec, "bars_per_s": n * N_BARS / sec})
        out = run_portfolio_backtest(bars, cfg, RiskLimits(), pfeats)
        rows[-3]["note"] = f"{len(out.orders):,} orders, {len(out.fills):,} fills, {len(out.events):,} risk events"
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """Markdown table with the risk-layer cost per universe size."""
    lines = ["| stocks x bars | case | wall time (s) | bars/s | note |", "| --- | --- | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['stocks']} x {N_BARS} | {r['case']} | {r['seconds']:.3f} | {r['bars_per_s']:,.0f} | {r.get('note', '')} |")
    lines.append("")
    for n in SIZES:
        sec = {r["case"]: r["seconds"] for r in rows if r["stocks"] == n}
        full = sec["portfolio, all risk rules: loop only"]
        off = sec["portfolio, risk layer off: loop only"]
        nc = sec["portfolio, risk rules without correlation: loop only"]
        ps = sec["per-stock all-in: kernel only"]
        lines.append(f"* {n} stocks: risk layer costs **{(full / off - 1) * 100:+.0f}%** of the loop time "
                     f"(all rules vs. off; {(nc / off - 1) * 100:+.0f}% without the correlation rule); "
                     f"the portfolio loop takes {full / ps:.1f}x the per-stock kernel.")
    return "\n".join(lines)


def section(rows: list[dict[str, object]], repeats: int) -> str:
    """The docs/performance.md section owned by this benchmark."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}, numpy {np.__version__}"
    return (
        f"{HEADING}\n\n"
        f"Measured by `benchmarks/portfolio.py` ({machine}; shared machine, single-threaded numba loops; best of "
        f"{repeats} after a warm-up call, so JIT compilation is excluded). Synthetic data (seed {SEED}), adaptive RSI, "
        "default costs. *Loop only* = the compiled portfolio loop with features precomputed; *total* includes the "
        "features. *Risk layer off* = `RiskLimits.off()` (all-in sizing, no stops, caps, correlation, breaker, "
        "participation cap or impact); the risk layer changes what is traded (fewer, smaller positions, paper trades "
        "during the Kelly warm-up), so its cost is measured on the same data, not the same trades.\n\n"
        f"{table(rows)}\n"
    )


def write_section(text: str, path: Path = DOC) -> None:
    """Replace (or append) only this benchmark's section of docs/performance.md, leaving others intact."""
    doc = path.read_text() if path.exists() else "# Performance\n"
    path.write_text(replace_section(doc, HEADING, text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = measure(args.repeats)
    print(table(rows))
    if not args.no_write:
        write_section(section(rows, args.repeats))
        print(f"\nwrote section '{HEADING}' in {DOC}")


if __name__ == "__main__":
    main()
