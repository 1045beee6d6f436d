"""Executors on the 500-stock x 2,520-bar adaptive backtest: serial, threads, processes, Dask LocalCluster.

Wall time of `runner.run` (data already loaded in the driver, as the CLI does), including pool /
cluster start-up; plus a size sweep (serial vs threads, the `auto` default) from 50 stocks up.
Records the "Executors" section of docs/performance.md (read-modify-write of that section only).

Run: .venv/bin/python benchmarks/scaling.py [--workers 2] [--repeat 2] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from pathlib import Path

HEADING = "## Executors"
DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
SWEEP_REPEAT = 7  # the size sweep's runs are short: more of them, so the speed-up is not one noisy pair


def symbols(n: int) -> tuple[str, ...]:
    """n symbol names: the extended NASDAQ universe when the shared data is there, else S0000..."""
    try:
        from adaptrade.universe.universe import NasdaqUniverse

        names = NasdaqUniverse(Path(__file__).resolve().parents[2] / "shared" / "data").extended()["symbol"].tolist()
    except Exception:  # noqa: BLE001 - the benchmark also runs without the shared data
        names = []
    names = names[:n]
    return tuple(names + [f"S{i:04d}" for i in range(n - len(names))])


def timed(req: object, settings: object, data: object, executor: str, workers: int, repeat: int,
          scheduler: str | None = None) -> tuple[float, object]:
    """Best wall time of `repeat` runs and the last result."""
    from adaptrade.parallel import runner

    best, res = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res, _ = runner.run(req, settings, data=data, executor=executor, workers=workers, scheduler=scheduler)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - t0)
    return best, res


def startup(workers: int) -> dict[str, float]:
    """Seconds to start and stop an empty process pool / LocalCluster (the fixed overhead)."""
    from concurrent.futures import ProcessPoolExecutor

    from adaptrade.parallel.executors import ProcessExecutor

    out = {}
    t0 = time.perf_counter()
    pool: ProcessPoolExecutor = ProcessExecutor(workers)._pool(workers)
    list(pool.map(abs, range(workers)))
    pool.shutdown()
    out["processes"] = time.perf_counter() - t0
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40) as c, Client(c) as cl:
        cl.submit(abs, 1).result()
    out["dask"] = time.perf_counter() - t0
    return out


def batch_costs(bars: int) -> dict[str, float]:
    """Milliseconds per 50-stock batch: regenerate, backtest; MB of results sent back."""
    import pickle

    from adaptrade.parallel.batching import Batch, SyntheticSpec, run_batch
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.data.synthetic import generate
    from adaptrade.strategy.params import StrategyConfig

    syms = tuple(f"S{i}" for i in range(50))
    batch = Batch(0, syms, SyntheticSpec(bars, 42, "2024-03-08"), StrategyConfig())
    res = run_batch(batch)

    def best(f: object) -> float:
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            f()  # type: ignore[operator]
            ts.append(time.perf_counter() - t0)
        return min(ts) * 1e3

    b = generate(syms, bars, seed=42)
    return {"generate": best(lambda: generate(syms, bars, seed=42)), "backtest": best(lambda: run_backtest(b, StrategyConfig())),
            "result_mb": len(pickle.dumps(res, protocol=5)) / 1e6, "batch_kb": len(pickle.dumps(batch)) / 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sweep", default="50,100,200,500", help="stock counts for the serial vs threads sweep")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()

    from adaptrade.parallel import runner
    from adaptrade.reports.files import stocks_frame
    from adaptrade.settings import Settings

    settings = Settings()
    req = runner.RunRequest(symbols=symbols(a.stocks), stocks=None, bars=a.bars, seed=42)
    t0 = time.perf_counter()
    data = runner.load_data(req, settings)
    t_load = time.perf_counter() - t0
    runner.run(runner.RunRequest(stocks=2, bars=100), settings, executor="serial")  # JIT / cache warm-up
    rows = []
    t_ser, r_ser = timed(req, settings, data, "serial", 1, a.repeat)
    rows.append(("serial", 1, t_ser))
    t_thr, r_thr = timed(req, settings, data, "threads", a.workers, a.repeat)
    rows.append(("threads (auto)", a.workers, t_thr))
    t_proc, r_proc = timed(req, settings, data, "processes", a.workers, a.repeat)
    rows.append(("processes", a.workers, t_proc))
    t_dask, r_dask = timed(req, settings, data, "dask", a.workers, a.repeat)
    rows.append(("dask, new LocalCluster per run", a.workers, t_dask))
    from distributed import LocalCluster

    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40) as lc:
        small = runner.RunRequest(stocks=2 * a.workers, bars=100)
        runner.run(small, Settings(batch_size=1), executor="dask", scheduler=lc.scheduler_address)  # warm the workers
        t_warm, r_warm = timed(req, settings, data, "dask", a.workers, a.repeat, scheduler=lc.scheduler_address)
    rows.append(("dask, running cluster (--scheduler, warm workers)", a.workers, t_warm))
    same = stocks_frame(r_ser).to_csv(index=False) == stocks_frame(r_thr).to_csv(index=False) == stocks_frame(r_proc).to_csv(index=False) == stocks_frame(r_dask).to_csv(index=False) == stocks_frame(r_warm).to_csv(index=False)  # type: ignore[arg-type]
    st = startup(a.workers)
    sweep = []
    for n in [int(x) for x in a.sweep.split(",") if x]:
        rq = runner.RunRequest(symbols=symbols(n), stocks=None, bars=a.bars, seed=42)
        d = runner.load_data(rq, settings)
        sweep.append((n, timed(rq, settings, d, "serial", 1, SWEEP_REPEAT)[0], timed(rq, settings, d, "threads", a.workers, SWEEP_REPEAT)[0]))

    lines = [HEADING, "",
             f"Measured by `benchmarks/scaling.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPUs visible, {platform.machine()}, "
             f"Python {platform.python_version()}; shared machine (other jobs running), best of {a.repeat}. "
             f"{a.stocks} synthetic stocks x {a.bars} bars, adaptive strategy, batches of {settings.batch_size}. "
             f"Wall time of `runner.run` with the data already loaded in the driver (loading took {t_load:.2f} s), "
             "including pool / cluster start-up (processes: workers fork from a warm fork server started once per driver process, "
             "so the first run also pays ~1.5 s once); workers regenerate their batches from (symbols, seed, bars) and check a fingerprint.",
             "", "| executor | workers | wall (s) | speed-up vs serial | overhead vs ideal (s) |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, w, t in rows:
        lines.append(f"| {name} | {w} | {t:.2f} | {t_ser / t:.2f}x | {t - t_ser / w:+.2f} |")
    lines += ["", f"stocks.csv identical across all executors: {'yes' if same else 'NO'}. "
              f"Fixed start-up cost alone (empty job): process pool {st['processes']:.2f} s, Dask LocalCluster {st['dask']:.2f} s.",
              "", f"Size sweep ({a.bars} bars, {a.workers} threads, best of {SWEEP_REPEAT}: walls of tens of ms), the measurement behind the `auto` rule "
              "(threads; see parallel/executors.py; target >= 1.7x at 500 stocks):", "", "| stocks | serial (s) | threads (s) | speed-up |", "| ---: | ---: | ---: | ---: |"]
    for n, ts, tp in sweep:
        lines.append(f"| {n} | {ts:.2f} | {tp:.2f} | {ts / tp:.2f}x |")
    bc = batch_costs(a.bars)
    lines += ["", f"Per 50-stock batch ({a.bars} bars): regenerating the data {bc['generate']:.1f} ms, backtesting it "
              f"{bc['backtest']:.1f} ms, results sent back {bc['result_mb']:.2f} MB (equity, signals, trades), the batch "
              f"itself {bc['batch_kb']:.1f} kB plus the calendar. The engine is so fast that a worker process spends about as long rebuilding its "
              "input as backtesting it, which is why 2 processes do not beat serial here while threads, which read the loaded bars "
              "in place, do; what this means at "
              "5,000 symbols x 20 years x a parameter sweep is worked out in docs/scaling.md."]
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
