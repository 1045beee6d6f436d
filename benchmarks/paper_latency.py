"""Bar-to-order latency of the per-stock paper loop (replay feed at full speed, sim broker) on 100 and 500
real archive stocks, and the time to recover after a SIGKILL; record in docs/performance.md.

Latency of one bar batch = from the moment the feed hands the loop a session's bars to the moment the
loop has handed that session's orders to the broker and persisted its state, journals fdatasync'd
(`PaperLoop.on_batch`); the journals' compactions, done between batches, are timed apart.
Run: .venv/bin/python benchmarks/paper_latency.py [--no-write] [--profile] [--profile-symbols N]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _report import replace_section  # benchmarks/_report.py (run as a script: its folder is on sys.path)

HEADING = "## Paper trading latency"
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"

SIZES = (100, 500)
START, END = "2022-12-01", "2024-03-08"  # ~315 sessions: the first WARMUP are replayed, not counted
WARMUP = 63
TARGET_MS = 5.0


def data_dir() -> Path:
    """The shared archive (ADAPTRADE_DATA_DIR or ../shared/data)."""
    env = os.environ.get("ADAPTRADE_DATA_DIR")
    return Path(env) if env else (ROOT.parent / "shared" / "data")


def symbols(n: int) -> list[str]:
    """The first `n + 40` archive symbols, alphabetically (load() keeps the n best covering the window)."""
    from adaptrade.data.archive import available_symbols

    return sorted(available_symbols(data_dir()))[: n + 40]


def load(n: int):  # -> LoadedData
    """The archive's bars of `n` stocks over START..END, through the same request path as `paper run`."""
    from adaptrade.commands.backtest import _request
    from adaptrade.parallel.runner import load_data
    from adaptrade.settings import load_settings

    settings = load_settings()
    cand = symbols(n)
    req = _request("archive", data_dir(), ",".join(cand), None, None, 0, 0, START, END, "adaptive", 14, 30.0, 70.0,
                   None, None, None, False, settings)
    loaded = load_data(req, settings)
    cover = loaded.bars.valid.mean(axis=1)
    keep = sorted(np.argsort(-cover, kind="stable")[:n].tolist())  # the n best-covered (a late listing trades later)
    req = _request("archive", data_dir(), ",".join(loaded.bars.symbols[i] for i in keep), None, None, 0, 0, START, END,
                   "adaptive", 14, 30.0, 70.0, None, None, None, False, settings)
    return load_data(req, settings), req.strategy, settings


def run_loop(n: int, folder: Path, profile: bool = False, fsync: bool = True) -> tuple[np.ndarray, int, str, list[float]]:
    """Replay n stocks through PaperLoop at speed 0; per-batch latencies (s), orders sent, profile text,
    the compactions' durations (s)."""
    from adaptrade.live.broker import SimBroker
    from adaptrade.live.feeds import ReplayFeed
    from adaptrade.live.loop import PaperLoop
    from adaptrade.live.state import Lease

    loaded, cfg, settings = load(n)
    sim = SimBroker(folder, cfg.initial_cash * loaded.bars.n_symbols, cfg.commission_bps, cfg.slippage_bps, cfg.whole_shares,
                    fsync=fsync)
    loop = PaperLoop(folder, ReplayFeed(loaded.bars, 0.0, str(settings.cache_dir)), cfg, sim, {"bench": n},
                     fsync=fsync, compact_every=settings.paper_compact_every)
    lat = np.full(len(loop.feed), np.nan)  # preallocated: the hook only stores a float
    compactions: list[float] = []
    compact = loop.compact

    def hook(k: int, t_in: float, t_out: float) -> None:
        lat[k] = t_out - t_in

    def timed_compact() -> None:
        t0 = time.perf_counter()
        compact()
        compactions.append(time.perf_counter() - t0)

    loop.on_batch = hook
    loop.compact = timed_compact  # type: ignore[method-assign]
    lease = Lease(folder)
    lease.acquire("bench")
    prof = cProfile.Profile() if profile else None
    try:
        if prof:
            prof.enable()
        loop.run(lease)
        if prof:
            prof.disable()
    finally:
        lease.release()
    text = ""
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        text = buf.getvalue()
    return lat[WARMUP:][~np.isnan(lat[WARMUP:])], len(loop.doc["intents"]), text, compactions


def recovery(n: int, tmp: Path) -> dict[str, float]:
    """`adaptrade paper run` as a subprocess on n stocks, SIGKILLed mid-replay; seconds from the restart's
    launch to its first processed bar batch (a new 'close' event in the journal), and its process start-up."""
    loaded, cfg, _ = load(n)
    syms = ",".join(loaded.bars.symbols)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ADAPTRADE_PAPER_DIR": str(tmp / "paper")}
    cmd = [sys.executable, "-m", "adaptrade", "paper", "run", "--broker", "sim", "--feed", "replay", "--source", "archive",
           "--data-dir", str(data_dir()), "--symbols", syms, "--start", START, "--end", END, "--speed", "0",
           "--session", "kill", "--no-store"]  # the store is written at compactions only, not on the measured path
    journal = tmp / "paper" / "kill" / "events.jsonl"

    def closes() -> int:
        try:
            return journal.read_text().count('"event": "close"')
        except FileNotFoundError:
            return 0

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while closes() < 150 and first.poll() is None:
        time.sleep(0.005)
    if first.poll() is not None:
        raise SystemExit(f"paper run ended before the kill point: {first.stderr.read().decode()[-500:]}")
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = closes()
    load_s = _load_time(tmp / "paper" / "kill", loaded, cfg)
    t0 = time.perf_counter()
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while closes() <= before and second.poll() is None:
        time.sleep(0.002)
    t_bar = time.perf_counter() - t0
    second.send_signal(signal.SIGKILL)
    second.wait()
    t1 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "adaptrade", "--help"], env=env, capture_output=True, check=True)
    return {"stocks": n, "killed_at": before, "recover_s": t_bar, "startup_s": time.perf_counter() - t1, "load_s": load_s}


def _load_time(folder: Path, loaded, cfg) -> float:  # type: ignore[no-untyped-def]
    """Seconds to rebuild the killed session in-process: the broker's book and the loop's state (snapshots
    plus journal replay) and the reconciliation, without the archive load or the interpreter start-up."""
    from adaptrade.live.broker import SimBroker
    from adaptrade.live.feeds import ReplayFeed
    from adaptrade.live.loop import PaperLoop
    from adaptrade.settings import load_settings

    settings = load_settings()
    feed = ReplayFeed(loaded.bars, 0.0, str(settings.cache_dir))
    meta = _meta(folder)
    t0 = time.perf_counter()
    sim = SimBroker(folder, 0.0, cfg.commission_bps, cfg.slippage_bps, cfg.whole_shares)
    loop = PaperLoop(folder, feed, cfg, sim, meta)
    loop.reconcile()
    dt = time.perf_counter() - t0
    loop.close()
    sim.close()
    return dt


def _meta(folder: Path) -> dict:  # type: ignore[type-arg]
    from adaptrade.live.loop import current_state

    return current_state(folder)["meta"]  # type: ignore[index]


def table(rows: list[dict[str, float]]) -> str:
    """Markdown table: symbols, fsync, batches, p50/p99/max (ms), orders, compactions."""
    lines = ["| symbols | fsync per batch | batches | p50 ms | p99 ms | max ms | orders sent | compactions (max ms) | p99 < 5 ms |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['symbols']} | {'yes' if r['fsync'] else 'no'} | {r['batches']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['max']:.2f} | {r['orders']:,} | {r['compactions']} ({r['compact_max']:.0f}) | "
                     f"{'yes' if r['p99'] < TARGET_MS else 'no'} |")
    return "\n".join(lines) + "\n"


def verdict(rows: list[dict[str, float]]) -> str:
    """The sentence saying, from this run's rows, whether p99 < 5 ms holds at 500 stocks with and without fsync."""
    by = {(int(r["symbols"]), bool(r["fsync"])): r["p99"] for r in rows}
    on, off = by.get((500, True), float("nan")), by.get((500, False), float("nan"))
    return (f"**At 500 stocks the target is {'met' if on < TARGET_MS else 'missed'} with the per-batch fdatasync "
            f"(p99 {on:.2f} ms, the default) and {'met' if off < TARGET_MS else 'missed'} without it (p99 {off:.2f} ms, "
            "`ADAPTRADE_PAPER_FSYNC=false`, which still survives a SIGKILL: the kernel keeps what was written; only a "
            "power cut could lose the last batch).** ")


PROFILE = (
    "The fdatasync's latency is the shared disk's and varies from run to run with the other jobs' I/O (two "
    "earlier runs the same hour, load ~1-1.6, gave p99 1.73 / 8.05 ms for 100 stocks, 5.89 / 5.23 ms for 500 with "
    "fsync and 2.12 / 3.26 ms without): the p99 with fsync sits around the target, not clearly under it. Before this "
    "change the same loop took p50 1.4 s / p99 6.1 s per 500-stock batch (the previous run of this benchmark, on a heavily loaded machine; whole `state.json` rewritten per event, "
    "the RSI stack recomputed over the full history per bar). What remains, profiled once (`--profile "
    "--profile-symbols 500`, cProfile, load ~3, 1.24 s in `PaperLoop.run` for 318 sessions): the two fdatasyncs "
    "per batch 0.42 s (~34%, ~0.65 ms each under that load, the disk's flush latency); compaction 0.25 s in 5 "
    "calls (JSON encoding of the snapshot, between batches); sending orders 0.24 s for 1,374 orders (the broker's "
    "record building and journal append, the event log line); the broker's open 0.12 s; the close step 0.12 s, of "
    "which the one compiled call for all 500 stocks (`StrategyBatch.on_bars`: incremental RSI and volatility, then "
    "the backtest's `step`) is 0.05 s, ~0.16 ms per batch. Not done: a cheaper durable flush (one preallocated "
    "journal for both books, so an fdatasync writes no metadata), which is where the rest of the p99 is."
)


def section(rows: list[dict[str, float]], recs: list[dict[str, float]], load: tuple[float, float]) -> str:
    """The docs/performance.md section owned by this benchmark."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}, numpy {np.__version__}"
    rec_lines = "".join(
        f"- {r['stocks']} stocks, killed after {r['killed_at']} sessions: the restart processed its next bar batch "
        f"**{r['recover_s']:.2f} s** after launch; bare `python -m adaptrade --help` start-up is {r['startup_s']:.2f} s of that, "
        f"rebuilding the session in-process (broker book and loop state from snapshot + journal replay, reconciliation) "
        f"{r['load_s'] * 1e3:.0f} ms; the rest is importing the loop's modules and loading the archive.\n" for r in recs)
    return (
        f"{HEADING}\n\n"
        f"Measured by `benchmarks/paper_latency.py` ({machine}), run once; load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after (2 cores shared with other jobs: noisy). Per-stock `PaperLoop`, replay feed at full speed "
        f"(`--speed 0`), sim broker, adaptive RSI, default costs, real archive bars {START}..{END}; the first {WARMUP} "
        "sessions are replayed as a warm-up and not counted. Latency of a batch = from the feed handing the loop one "
        "session's bars for all stocks to the loop having handed that session's orders to the broker and persisted "
        "every change (open fills, every stock's step, orders and acknowledgements appended to `state.journal` and "
        "`broker.journal`, both fdatasync'd once per batch when `ADAPTRADE_PAPER_FSYNC` is on, the default), stamped "
        "by the loop's optional `on_batch` hook. The journals are compacted into `state.json` / `broker.json` every "
        "`ADAPTRADE_PAPER_COMPACT_EVERY` sessions (64) and at the end, between batches, after the batch's orders "
        f"are out: timed apart, not in the latency. Target: p99 < {TARGET_MS:g} ms for 500.\n\n"
        f"{table(rows)}\n"
        f"Recovery after a SIGKILL of `adaptrade paper run`:\n\n{rec_lines}\n"
        f"{verdict(rows)}{PROFILE}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--profile", action="store_true", help="only profile the loop, print its top calls, write nothing")
    parser.add_argument("--profile-symbols", type=int, default=100, help="stocks in the profiled loop")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="paperbench") as tmp:
            print(run_loop(args.profile_symbols, Path(tmp), profile=True)[2])
        return
    rows = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="paperbench") as tmp:
        for n, fsync in ((100, True), (500, True), (500, False)):
            folder = Path(tmp) / f"loop{n}{'s' if fsync else ''}"
            folder.mkdir()
            lat, orders, _, comp = run_loop(n, folder, fsync=fsync)
            ms = lat * 1e3
            rows.append({"symbols": n, "fsync": fsync, "batches": len(ms), "p50": float(np.percentile(ms, 50)),
                         "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "orders": orders,
                         "compactions": len(comp), "compact_max": 1e3 * max(comp, default=0.0)})
            print(table(rows[-1:]), flush=True)
        recs = [recovery(n, Path(tmp) / f"rec{n}") for n in SIZES]
    load1 = os.getloadavg()[0]
    print(table(rows))
    print(recs, f"load {load0:.2f} -> {load1:.2f}")
    if not args.no_write:
        DOC.write_text(replace_section(DOC.read_text(), HEADING, section(rows, recs, (load0, load1))))
        print(f"wrote section '{HEADING}' in {DOC}")


if __name__ == "__main__":
    main()
