"""Load on the read endpoints of `adaptrade serve`, events/s through the stream, and the stream during a
500-stock backtest job; rewrites its section of docs/performance.md.

The service runs as its own process (`python -m adaptrade serve` on a free loopback port) on a store
holding one 500-stock run, on DuckDB (a temp file) and on PostgreSQL (a database of its own, created and
dropped; left out when PostgreSQL does not answer); this process is the client: 1, 10 and 100 concurrent
keep-alive connections (asyncio, one thread: a light client, so the client takes little of the 2 shared
cores) for a few seconds per endpoint. Peers on the same machine: `/api/v1/health` (the framework's floor:
no store access) and the same page read straight from DuckDB in this process (the store's floor: no HTTP).
Then the event stream: events published through the service's EventBus code and received over
`WS /api/v1/stream` (its capacity), and a real 500-stock x 1,260-bar job started with `POST /backtests`
whose progress, fills, parameter changes and equity are received over the stream while it runs: their
count against what the job put on the Redis stream, events/s, and the delivery lag (receipt time minus the
entry's Redis timestamp). `uptime` is printed before and after.

    .venv/bin/python benchmarks/api_load.py              # 500 stocks x 1,260 bars, 3 s per level, both backends; writes docs
    .venv/bin/python benchmarks/api_load.py --quick      # 50 stocks, 1 s per level (writes nothing)
    .venv/bin/python benchmarks/api_load.py --db postgresql://postgres@127.0.0.1:5432/EMPTY_DB   # only that PostgreSQL database
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
from typing import Any

import requests

from _report import replace_section  # benchmarks/_report.py (run as a script: its folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
HEADING = "## Service (`adaptrade serve`)"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 50.0
TOKEN = "bench-token-" + uuid.uuid4().hex


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


async def _client(host: str, port: int, paths: list[str], stop: float, lat: list[float], errors: list[int]) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs one after another until `stop` (a light client:
    no per-request Python HTTP library, so the client takes little of the CPU the server needs)."""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.monotonic() < stop:
            req = f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
            i += 1
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors[0] += 1
    finally:
        writer.close()


def load(url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of `clients` concurrent keep-alive connections (asyncio, one thread)
    sending GETs of `url` back to back for `seconds`; `{i}` in `url` is replaced by a page offset per request."""
    import asyncio
    from urllib.parse import urlsplit

    u = urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    paths = [target.replace("{i}", str(100 * k)) for k in range(5)] if "{i}" in target else [target]
    lat: list[float] = []
    errors = [0]

    async def main() -> float:
        stop = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(_client(u.hostname or "127.0.0.1", u.port or 80, paths[c % len(paths):] + paths[:c % len(paths)],
                                       stop, lat, errors) for c in range(clients)))
        return time.monotonic() - t0

    wall = asyncio.run(main())
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


def job_stream(base: str, redis_url: str, prefix: str, stocks: int, bars: int) -> dict[str, Any]:
    """Start a `stocks` x `bars` backtest job and follow it over WS /stream until it is done: events of the job
    received (by kind) against those the job put on the Redis stream, seconds, events/s, delivery lag (ms)."""
    from collections import Counter

    import redis
    from websockets.sync.client import connect

    kinds: Counter[str] = Counter()
    lags: list[float] = []
    with connect(base.replace("http", "ws") + "/api/v1/stream?last_id=$", max_size=None) as ws:
        first = json.loads(ws.recv(timeout=10))["id"]
        t0 = time.perf_counter()
        r = requests.post(base + "/api/v1/backtests", json={"stocks": stocks, "bars": bars, "seed": 3},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        r.raise_for_status()
        job_id = r.json()["id"]
        state = ""
        while state not in ("done", "failed"):
            m = json.loads(ws.recv(timeout=900))
            now_ms = time.time() * 1000.0
            d = m.get("data") or {}
            if d.get("job_id") != job_id and d.get("id") != job_id:
                continue
            kinds[m["kind"]] += 1
            lags.append(now_ms - int(m["id"].split("-")[0]))
            if m["kind"] == "job":
                state = d["state"]
        seconds = time.perf_counter() - t0
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    published = 0
    for _, fields in client.xrange(f"{prefix}:events", min=f"({first}", max="+"):
        d = json.loads(fields["data"])
        published += d.get("job_id") == job_id or d.get("id") == job_id
    client.close()
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
    return {"state": state, "kinds": dict(kinds), "received": sum(kinds.values()), "published": published, "seconds": seconds,
            "rate": sum(kinds.values()) / seconds, "lag_p50": q[49], "lag_p99": q[98], "lag_max": max(lags)}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


UNCACHED = "/runs/{id}/stocks page of 100, page cache off"


def serve(db: Path | str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`adaptrade serve` on `port` over `db`, once /health answers."""
    proc = subprocess.Popen([sys.executable, "-m", "adaptrade", "serve", "--port", str(port), "--db", str(db)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit(f"adaptrade serve on port {port} did not answer /api/v1/health within 30 s")
    return proc


def levels(out: dict[str, Any], name: str, url: str, secs: float) -> None:
    """Load `url` at 1, 10 and 100 clients; rows into out["rows"], printed."""
    for c in (1, 10, 100):
        rps, p50, p99, err = load(url, c, secs)
        out["rows"].append({"endpoint": name, "clients": c, "rps": rps, "p50": p50, "p99": p99, "errors": err})
        print(f"{name:44} {c:>7} {rps:>8.0f} {p50:>8.1f} {p99:>8.1f} {err:>6}")


def measure(db: Path | str, backend: str, stocks: int, bars: int, secs: float, job: bool) -> dict[str, Any]:
    """Every figure of one backend: store build, load table, the DuckDB floor, the stream rate and the job's stream."""
    import redis

    redis_url = "redis://127.0.0.1:6379/0"
    prefix = f"adaptrade-bench-{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = {"backend": backend, "uptime_before": uptime(), "rows": []}
    t0 = time.perf_counter()
    run_id = build_store(db, stocks, bars)
    print(f"\n[{backend}] store: 1 run of {stocks} stocks x {bars} bars in {time.perf_counter() - t0:.1f} s; {out['uptime_before']}")
    out["floor"] = duckdb_floor(Path(db), run_id) if backend == "DuckDB" else None
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ADAPTRADE_REDIS_URL": redis_url, "ADAPTRADE_REDIS_PREFIX": prefix,
           "ADAPTRADE_API_TOKEN": TOKEN, "ADAPTRADE_API_JOB_STARTS_PER_MINUTE": "100"}
    page = f"/api/v1/runs/{run_id}/stocks?limit=100&offset=" + ("{i}" if stocks >= 500 else "0")
    # the pages with the page cache off first (every request reads the store and encodes the page); one server at a
    # time, since a DuckDB file takes one process
    proc = serve(db, port, {**env, "ADAPTRADE_API_PAGE_CACHE_ENTRIES": "0"})
    try:
        print(f"{'endpoint':44} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        levels(out, UNCACHED, f"http://127.0.0.1:{port}" + page, secs)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    port = free_port()
    proc = serve(db, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        targets = {"/health (framework floor)": base + "/api/v1/health", "/runs/{id}/stocks page of 100": base + page,
                   "/runs": base + "/api/v1/runs", "/runs/{id}": base + f"/api/v1/runs/{run_id}"}
        for name, url in targets.items():
            levels(out, name, url, secs)
        if out["floor"] is not None:
            print(f"{'DuckDB page read in-process (floor)':34} {1:>7} {'':>8} {out['floor'][0]:>8.2f} {out['floor'][1]:>8.2f}")
        n = 2000 if stocks < 500 else 20_000
        out["stream_n"], out["stream_rate"] = n, stream_rate(base, redis_url, prefix, n)
        print(f"stream: {out['stream_rate']:,.0f} events/s end to end ({n:,} fills, publish -> Redis -> WS client)")
        if job:
            j = job_stream(base, redis_url, prefix, stocks, bars)
            out["job"] = j
            print(f"job {stocks} x {bars}: {j['state']} in {j['seconds']:.1f} s; received {j['received']} of {j['published']} "
                  f"events it published ({j['kinds']}), {j['rate']:.0f} events/s; delivery lag p50 {j['lag_p50']:.1f} ms, "
                  f"p99 {j['lag_p99']:.1f} ms, max {j['lag_max']:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    out["uptime_after"] = uptime()
    print(f"[{backend}] done; {out['uptime_after']}")
    return out


def pg_database() -> tuple[str, Any] | None:
    """A fresh PostgreSQL database of this run (URL, drop function), or None when PostgreSQL does not answer."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL left out: {PG_ADMIN} does not answer ({type(exc).__name__})")
        return None
    name = f"adaptrade_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def md_table(results: list[dict[str, Any]]) -> str:
    lines = ["| backend | endpoint | clients | req/s | p50 ms | p99 ms | errors |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for res in results:
        for r in res["rows"]:
            name = r["endpoint"].replace("{id}", "{id}")
            lines.append(f"| {res['backend']} | `{name}` | {r['clients']} | {r['rps']:,.0f} | {r['p50']:,.1f} | {r['p99']:,.1f} | {r['errors']} |")
        if res.get("floor"):
            lines.append(f"| DuckDB | page read in-process (floor) | 1 | | {res['floor'][0]:.2f} | {res['floor'][1]:.2f} | |")
    return "\n".join(lines) + "\n"


def section(results: list[dict[str, Any]], stocks: int, bars: int, secs: float) -> str:
    """The docs/performance.md section owned by this benchmark (NOTES holds the profile finding, kept by hand)."""
    import platform

    def target(res: dict[str, Any]) -> str:
        r = next(x for x in res["rows"] if x["endpoint"] == "/runs/{id}/stocks page of 100" and x["clients"] == 10)
        u = next(x for x in res["rows"] if x["endpoint"] == UNCACHED and x["clients"] == 10)
        return (f"{res['backend']} {r['p99']:.1f} ms ({'met' if r['p99'] < TARGET_MS else 'missed'}; with the page cache off "
                f"{u['p99']:.1f} ms, {'met' if u['p99'] < TARGET_MS else 'missed'})")

    stream = "; ".join(f"{r['backend']} {r['stream_rate']:,.0f} events/s ({r['stream_n']:,} fills)" for r in results)
    jobs = []
    for r in results:
        j = r.get("job")
        if j:
            jobs.append(f"{r['backend']}: {j['state']} in {j['seconds']:.1f} s, {j['received']:,} of the {j['published']:,} events it "
                        f"published received ({', '.join(f'{v:,} {k}' for k, v in sorted(j['kinds'].items()))}), {j['rate']:.0f} events/s "
                        f"({r['stream_rate'] / j['rate']:.0f}x below the stream's capacity), "
                        f"delivery lag p50 {j['lag_p50']:.0f} ms / p99 {j['lag_p99']:.0f} ms / max {j['lag_max']:.0f} ms")
    loads = "; ".join(f"{r['backend']}: before `{r['uptime_before'].split('load average:')[-1].strip()}`, after "
                      f"`{r['uptime_after'].split('load average:')[-1].strip()}`" for r in results)
    return (
        f"{HEADING}\n\n"
        f"`python benchmarks/api_load.py` (issue 14; {platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}): "
        f"`adaptrade serve` as its own process on a store holding one {stocks}-stock x {bars:,}-bar run, on DuckDB and on "
        f"PostgreSQL; this script is the client (asyncio keep-alive connections in one thread), {secs:g} s per level, "
        "client and server on the same 2 shared cores. Peers: `/api/v1/health` (the framework's floor, no store access) "
        "and the same 100-row page read straight from DuckDB in-process (the store's floor, no HTTP, no JSON). "
        f"Measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average (1, 5, 15 min) at the time: {loads}.\n\n"
        f"{md_table(results)}\n"
        f"Target, p99 under {TARGET_MS:g} ms at 10 clients for `/runs/{{id}}/stocks` pages: {'; '.join(target(r) for r in results)}.\n\n"
        f"Stream capacity (`EventBus.publish` -> Redis Streams -> `WS /api/v1/stream` client): {stream}.\n\n"
        f"The stream during a {stocks}-stock x {bars:,}-bar job (`POST /backtests`, default executor; after each 50-stock batch the "
        "job publishes its latest 100 fills, 50 parameter changes and the running mean equity, then its progress): "
        f"{'; '.join(jobs) or 'not measured'}.\n\n"
        f"{NOTES}\n"
    )


NOTES = (
    "Profile of the `/runs/{id}/stocks` request path (single-thread ASGI calls with cProfile, a wall-clock sampler of the "
    "running server's threads, and the store calls timed alone; 500-stock run, pages of 100 rows x 19 columns, ~57 KB of JSON) "
    "and what was changed: (1) the store was one connection behind one lock, so concurrent requests queued behind each "
    "other's queries; reads now go through a small pool (`api_store_read_connections`, default 4: DuckDB cursors of the "
    "service's own database, PostgreSQL connections), the writer keeps its lock. (2) Three queries per page (run exists, "
    "count, page) became one: the page with its total as an uncorrelated count subquery; the run lookup only when the "
    "page comes back empty (404 vs an empty page past the end). (3) PostgreSQL reads in binary format: the page query went from ~1.0 to ~0.5 ms "
    "(parsing 1,900 numbers from text). (4) Values cleaned by column type (one function per column chosen from the "
    "schema) instead of a chain of isinstance checks per value. (5) The `RunTable` document dumped straight to JSON "
    "(`pydantic_core.to_json`, ~0.2 ms) instead of building the model and re-validating and re-dumping 1,900 values "
    "through the `str | int | float | bool | None` union (~1 ms); the model still documents the response and "
    "schemathesis checks the responses against it. (6) The read dependency async and the store work in one worker "
    "thread (one thread hop per request instead of three). (7) `GET /runs/{id}` counts a finished run's tables once "
    "(keyed by its finished time) instead of counting its 630,000 equity rows per request. Before/after, the same "
    "light client, the page endpoint, 3 s per level, old and new code alternated twice per backend at load average "
    "3.0-4.6 (2026-12-02 18:18): DuckDB 10 clients 105-116 -> 185-191 req/s, p99 208-249 -> 100-103 ms; PostgreSQL "
    "162 -> 328-391 req/s, p99 160-178 -> 52-58 ms; 1 client p50 DuckDB 9.2-9.7 -> 5.5-6.9 ms, PostgreSQL 6.2-6.7 -> "
    "2.0-3.5 ms; `/health` unchanged (p99 12-22 ms at 10 clients). What is left per page is the DuckDB query itself "
    "(~1.1-1.9 ms for 100 rows: materialising 1,900 Python values; the same query in-process is the floor row above), "
    "~0.3 ms building the row objects, and the framework; at 10 closed-loop clients the latency is about 10 x the server's "
    "per-request CPU on a core it shares with the client, PostgreSQL and the other engineers' jobs. Since 2026-12-03: "
    "uvicorn runs on `httptools` and `uvloop` (now dependencies; before, the pure-Python h11 parser and asyncio's loop), and "
    "finished runs' pages are kept encoded in a bounded LRU (`api_page_cache_entries`, default 512 pages, at most 64 MB; "
    "keyed by the run's finished time, so a re-save is a new key; runs still being written are never cached): the page "
    "rows above are served from it after the first request of each page, the 'page cache off' rows are the same load "
    "on a second server with the cache off (every request reads the store). Not done: several uvicorn "
    "workers (the DuckDB file allows one writing process), gzip (costs CPU here). Earlier figures (471 ms p99 at 10 "
    "clients on DuckDB at load average ~9 in this section's previous version, 436 ms on PostgreSQL in an earlier run "
    "under heavy load) were taken with a requests-based client in 10 threads; the client is lighter now, so part of "
    "the difference is the client and the load, not the server: compare the `/health` rows."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 stocks, 1 s per level, no job; writes nothing")
    ap.add_argument("--db", default=None, help="only this postgresql:// URL of an empty database (default: DuckDB and a fresh PostgreSQL database)")
    ap.add_argument("--no-job", action="store_true", help="leave out the 500-stock job on the stream")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = ap.parse_args()
    stocks, bars, secs = (50, 504, 1.0) if args.quick else (500, 1260, 3.0)
    job = not args.quick and not args.no_job
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            results.append(measure(args.db, "PostgreSQL", stocks, bars, secs, job))
        else:
            results.append(measure(Path(tmp) / "bench.duckdb", "DuckDB", stocks, bars, secs, job))
            pg = pg_database()
            if pg is not None:
                try:
                    results.append(measure(pg[0], "PostgreSQL", stocks, bars, secs, job))
                finally:
                    pg[1]()
    if not args.quick and not args.no_write and not args.db:
        DOC.write_text(replace_section(DOC.read_text(), HEADING, section(results, stocks, bars, secs)))
        print(f"\nwrote the '{HEADING}' section of {DOC}")


if __name__ == "__main__":
    main()
