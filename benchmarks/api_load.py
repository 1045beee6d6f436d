"""Load on the read endpoints of `adaptrade serve` and events/s through the stream.

The service runs as its own process (`python -m adaptrade serve` on a free loopback port) on a
DuckDB store holding one 500-stock run; this process is the client: 1, 10 and 100 concurrent clients
(threads, one keep-alive session each) for a few seconds per endpoint. Peers on the same machine:
`/api/v1/health` (the framework's floor: no store access) and the same page read straight from DuckDB
in this process (the store's floor: no HTTP). Then the event stream: events published through the
service's EventBus code and received over `WS /api/v1/stream`, end to end.

    .venv/bin/python benchmarks/api_load.py              # 500 stocks x 1,260 bars, 3 s per level
    .venv/bin/python benchmarks/api_load.py --quick      # 50 stocks, 1 s per level
    .venv/bin/python benchmarks/api_load.py --db postgresql://postgres@127.0.0.1:5432/EMPTY_DB   # the service on PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(path: Path | str, stocks: int, bars: int) -> str:
    from adaptrade.parallel.runner import RunRequest, run
    from adaptrade.reports.files import summary
    from adaptrade.settings import Settings
    from adaptrade.storage.runs import RunStore

    settings = Settings(executor="serial")
    result, _ = run(RunRequest(source="synthetic", stocks=stocks, bars=bars, seed=3), settings)
    with RunStore(path) as rs:
        return rs.save(result, summary(result))


def load(url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of `clients` threads hammering `url` for `seconds`."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        s = requests.Session()
        mine: list[float] = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            r = s.get(url.format(i=i), timeout=30)
            mine.append(time.perf_counter() - t0)
            if r.status_code != 200:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return len(lat) / wall, q[49] * 1000, q[98] * 1000, errors[0]


def duckdb_floor(path: Path, run_id: str, n: int = 200) -> tuple[float, float]:
    """p50/p99 ms of reading one 100-row stocks page straight from DuckDB (no HTTP, no JSON)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    t = []
    for i in range(n):
        t0 = time.perf_counter()
        con.execute("SELECT * FROM run_stocks WHERE run_id = ? ORDER BY _row LIMIT 100 OFFSET ?", [run_id, (i * 100) % 500]).fetchall()
        t.append(time.perf_counter() - t0)
    con.close()
    q = statistics.quantiles(t, n=100)
    return q[49] * 1000, q[98] * 1000


def stream_rate(base: str, redis_url: str, prefix: str, n: int) -> float:
    """Events/s from EventBus.publish to a WebSocket client of the running service."""
    from websockets.sync.client import connect

    from adaptrade.api.events import EventBus

    bus = EventBus(redis_url, prefix, maxlen=max(10_000, n * 2))
    got = 0
    with connect(base.replace("http", "ws") + "/api/v1/stream?last_id=$") as ws:
        json.loads(ws.recv(timeout=10))
        t0 = time.perf_counter()

        def pub() -> None:
            for i in range(n):
                bus.publish("fill", {"i": i, "symbol": "SYN", "side": "buy", "price": 1.0, "shares": 1.0})

        th = threading.Thread(target=pub)
        th.start()
        while got < n:
            if json.loads(ws.recv(timeout=30)).get("kind") == "fill":
                got += 1
        th.join()
        rate = n / (time.perf_counter() - t0)
    bus.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--db", default=None, help="a postgresql:// URL of an empty database (default: a DuckDB file in a temp folder)")
    args = ap.parse_args()
    stocks, bars, secs = (50, 504, 1.0) if args.quick else (500, 1260, 3.0)
    import redis

    redis_url = "redis://127.0.0.1:6379/0"
    prefix = f"adaptrade-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        run_id = build_store(db, stocks, bars)
        print(f"store: 1 run of {stocks} stocks x {bars} bars in {time.perf_counter() - t0:.1f} s"
              f" ({'PostgreSQL' if args.db else 'DuckDB'})")
        floor = duckdb_floor(db, run_id) if not args.db else None
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ADAPTRADE_REDIS_URL": redis_url, "ADAPTRADE_REDIS_PREFIX": prefix}
        proc = subprocess.Popen([sys.executable, "-m", "adaptrade", "serve", "--port", str(port), "--db", str(db)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if requests.get(base + "/api/v1/health", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            pages = max(1, stocks // 100)
            targets = {
                "/health (framework floor)": base + "/api/v1/health",
                "/runs/{id}/stocks page of 100": base + f"/api/v1/runs/{run_id}/stocks?limit=100&offset={{i}}00".replace("{i}00", "{i}"),
                "/runs": base + "/api/v1/runs",
                "/runs/{id}": base + f"/api/v1/runs/{run_id}",
            }
            targets["/runs/{id}/stocks page of 100"] = base + f"/api/v1/runs/{run_id}/stocks?limit=100&offset=" + "{i}"
            print(f"\nclients -> requests/s, p50 ms, p99 ms ({secs:g} s per level, client and server on 2 shared cores)")
            print(f"{'endpoint':34} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
            for name, url in targets.items():
                for c in (1, 10, 100):
                    u = url if "{i}" not in url else url.replace("{i}", "0") if pages == 1 else url
                    if "{i}" in u:
                        u = u.replace("{i}", str(100 * (c % pages)))
                    rps, p50, p99, err = load(u, c, secs)
                    print(f"{name:34} {c:>7} {rps:>8.0f} {p50:>8.1f} {p99:>8.1f} {err:>6}")
            if floor is not None:
                print(f"{'DuckDB page read in-process (floor)':34} {1:>7} {'':>8} {floor[0]:>8.2f} {floor[1]:>8.2f}")
            n = 2000 if args.quick else 20_000
            print(f"\nstream: {stream_rate(base, redis_url, prefix, n):,.0f} events/s end to end ({n:,} fills, publish -> Redis -> WS client)")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)


if __name__ == "__main__":
    main()
