"""Bar-to-order latency of the per-stock paper loop (replay feed at full speed, sim broker) on 100 and 500
real archive stocks, and the time to recover after a SIGKILL; record in docs/performance.md.

Latency of one bar batch = from the moment the feed hands the loop a session's bars to the moment the
loop has handed that session's orders to the broker and persisted its state (`PaperLoop.on_batch`).
Run: .venv/bin/python benchmarks/paper_latency.py [--no-write] [--profile]
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


def run_loop(n: int, folder: Path, profile: bool = False) -> tuple[np.ndarray, int, str]:
    """Replay n stocks through PaperLoop at speed 0; per-batch latencies (s), orders sent, profile text."""
    from adaptrade.live.broker import SimBroker
    from adaptrade.live.feeds import ReplayFeed
    from adaptrade.live.loop import PaperLoop
    from adaptrade.live.state import Lease

    loaded, cfg, settings = load(n)
    sim = SimBroker(folder, cfg.initial_cash * loaded.bars.n_symbols, cfg.commission_bps, cfg.slippage_bps, cfg.whole_shares)
    loop = PaperLoop(folder, ReplayFeed(loaded.bars, 0.0, str(settings.cache_dir)), cfg, sim, {"bench": n})
    lat = np.full(len(loop.feed), np.nan)  # preallocated: the hook only stores a float

    def hook(k: int, t_in: float, t_out: float) -> None:
        lat[k] = t_out - t_in

    loop.on_batch = hook
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
    return lat[WARMUP:][~np.isnan(lat[WARMUP:])], len(loop.doc["intents"]), text


def recovery(n: int, tmp: Path) -> dict[str, float]:
    """`adaptrade paper run` as a subprocess on n stocks, SIGKILLed mid-replay; seconds from the restart's
    launch to its first processed bar batch (a new 'close' event in the journal), and its process start-up."""
    loaded, _, _ = load(n)
    syms = ",".join(loaded.bars.symbols)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ADAPTRADE_PAPER_DIR": str(tmp / "paper")}
    cmd = [sys.executable, "-m", "adaptrade", "paper", "run", "--broker", "sim", "--feed", "replay", "--source", "archive",
           "--data-dir", str(data_dir()), "--symbols", syms, "--start", START, "--end", END, "--speed", "0",
           "--session", "kill"]
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
    t0 = time.perf_counter()
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while closes() <= before and second.poll() is None:
        time.sleep(0.002)
    t_bar = time.perf_counter() - t0
    second.send_signal(signal.SIGKILL)
    second.wait()
    t1 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "adaptrade", "--help"], env=env, capture_output=True, check=True)
    return {"stocks": n, "killed_at": before, "recover_s": t_bar, "startup_s": time.perf_counter() - t1}


def replace_section(doc: str, text: str) -> str:
    """`doc` with the section under HEADING replaced by `text` (appended when absent), as the other benchmarks do."""
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == HEADING), None)
    if start is None:
        return doc.rstrip("\n") + "\n\n" + text
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + text + ("\n" + tail if tail else "")


def table(rows: list[dict[str, float]]) -> str:
    """Markdown table: symbols, batches, p50, p99, max (ms)."""
    lines = ["| symbols | batches | p50 ms | p99 ms | max ms | orders sent | p99 < 5 ms |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['symbols']} | {r['batches']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | "
                     f"{r['orders']:,} | {'yes' if r['p99'] < TARGET_MS else 'no'} |")
    return "\n".join(lines) + "\n"


PROFILE = (
    "**The target is missed by three orders of magnitude at 500 stocks (p99 ~6 s in the run above).** Profiled once (`--profile`, 100 stocks, cProfile, "
    "41 s in `PaperLoop.run`): **persistence dominates, ~60%**: `atomic_write_json` 25.7 s (json encoding 21.6 s) "
    "because `_persist` re-serialises the whole `state.json` on every event (the close, the session, and once per "
    "order acknowledgement), and that document grows with the replay: every stock's full close history "
    "(`AdaptiveRSIStrategy.snapshot`), all intents and all fills; the sim broker re-reads and rewrites its whole "
    "JSON book on every call (`broker.json`: 4.4 s reading, 2.8 s writing). **The strategy is ~18%**: "
    "`AdaptiveRSIStrategy.on_bar` 7.5 s for 31,800 stock-bars (~0.24 ms each under the profiler), of which `_features` "
    "6.3 s: it rebuilds an array from the whole close list and recomputes the RSI stack over the entire history every "
    "bar, so its cost grows with the session; alone it would be ~100 ms per 500-stock batch. Reaching 5 ms needs both "
    "an incremental RSI/volatility state in the strategy (O(1) per bar, same numbers) and incremental persistence "
    "(append-only journal of the batch's changes instead of rewriting the whole document per event); neither is done "
    "here (no optimisation attempted in this benchmark's change)."
)


def section(rows: list[dict[str, float]], rec: dict[str, float]) -> str:
    """The docs/performance.md section owned by this benchmark."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}, numpy {np.__version__}"
    return (
        f"{HEADING}\n\n"
        f"Measured by `benchmarks/paper_latency.py` ({machine}), **run once on a heavily loaded shared machine "
        "(2 cores, several engineers' jobs at once): the numbers are upper-bound-ish and noisy.** Per-stock "
        f"`PaperLoop`, replay feed at full speed (`--speed 0`), sim broker, adaptive RSI, default costs, real archive "
        f"bars {START}..{END}; the first {WARMUP} sessions are replayed as a warm-up and not counted. Latency of a "
        "batch = from the feed handing the loop one session's bars for all stocks to the loop having handed that "
        "session's orders to the broker and persisted its state (open fills, every stock's step, orders, the "
        f"`state.json` writes), stamped by the loop's optional `on_batch` hook. Target: p99 < {TARGET_MS:g} ms for 500.\n\n"
        f"{table(rows)}\n"
        f"Recovery after a kill ({rec['stocks']} stocks): `adaptrade paper run` SIGKILLed after "
        f"{rec['killed_at']} processed sessions; the restart processed its next bar batch **{rec['recover_s']:.2f} s** "
        f"after launch (of which ~{rec['startup_s']:.2f} s is bare `python -m adaptrade --help` start-up; the rest is "
        "loading the archive, reading the state, reconciling with the broker, and the first batch).\n\n"
        f"{PROFILE}\n"
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
    with tempfile.TemporaryDirectory(prefix="paperbench") as tmp:
        for n in SIZES:
            folder = Path(tmp) / f"loop{n}"
            folder.mkdir()
            lat, orders, _ = run_loop(n, folder)
            ms = lat * 1e3
            rows.append({"symbols": n, "batches": len(ms), "p50": float(np.percentile(ms, 50)),
                         "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "orders": orders})
            print(table(rows[-1:]), flush=True)
        rec = recovery(100, Path(tmp))
    print(table(rows))
    print(rec)
    if not args.no_write:
        DOC.write_text(replace_section(DOC.read_text(), section(rows, rec)))
        print(f"wrote section '{HEADING}' in {DOC}")


if __name__ == "__main__":
    main()
