"""Research timings: the whole `adaptrade experiment phase7` on real data, and a 1,000-configuration
sweep over 100 stocks serially, on 2 local worker processes and on a 2-worker Dask LocalCluster.

    .venv/bin/python benchmarks/research.py [--trials 1000] [--stocks 100] [--source synthetic|archive] [--skip-phase7]

Prints one line per measurement (wall seconds); results go to docs/performance.md, section "Research".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def phase7_wall(source: str) -> float:
    """Wall time of the whole command in a fresh process (imports, data load, 8 runs, walk-forward, files)."""
    exe = REPO / ".venv" / "bin" / "adaptrade"
    t0 = time.perf_counter()
    subprocess.run([str(exe), "experiment", "phase7", "--source", source, "--out", str(REPO / "out" / "bench_phase7")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - t0


def sweep_wall(source: str, stocks: int, trials: int, executor: str, workers: int) -> tuple[float, float, int]:
    """(wall seconds of run_sweep including data load and executor start-up, best trial's excess SR, workers used)."""
    from adaptrade.parallel.runner import RunRequest, load_data
    from adaptrade.research.sweep import run_sweep, trial_settings
    from adaptrade.settings import load_settings

    settings = load_settings()
    req = RunRequest(source=source, stocks=stocks, bars=2520, seed=42, start="2014-03-06" if source == "archive" else None, end="2024-03-08")  # type: ignore[arg-type]
    t0 = time.perf_counter()
    loaded = load_data(req, settings)
    res = run_sweep(req, settings, trial_settings("random", {}, trials, 0), executor=executor, workers=workers, data=loaded)
    return time.perf_counter() - t0, float(res.best["excess_sharpe"]), res.workers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--stocks", type=int, default=100)
    ap.add_argument("--source", default="synthetic")
    ap.add_argument("--skip-phase7", action="store_true")
    ap.add_argument("--executors", default="serial,processes,dask")
    a = ap.parse_args()
    if not a.skip_phase7:
        for src in ("archive", "all"):
            print(f"phase7 --source {src}: {phase7_wall(src):.2f} s wall (whole command)", flush=True)
    for ex in a.executors.split(","):
        secs, best, used = sweep_wall(a.source, a.stocks, a.trials, ex, 2)
        print(f"sweep {a.trials} configs x {a.stocks} stocks x 2520 bars ({a.source}) on {ex} ({used} worker(s)): {secs:.1f} s wall, "
              f"{a.trials / secs:.1f} trials/s, best excess SR {best:.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
