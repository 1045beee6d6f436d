"""Store a 500-stock x 2,520-bar run in DuckDB and in PostgreSQL, read it back, and time each
analytic on it; beside them, the named peers of each bulk path (PostgreSQL: psycopg's row-by-row
`Copy.write_row`; DuckDB/files: pandas `to_parquet` of the same frames).

    PYTHONPATH=src python benchmarks/storage.py [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--stocks 500] [--bars 2520]

A fresh PostgreSQL database is created for the run and dropped after it. Timings are best of
--repeat; results go to docs/performance.md ("Storage and analytics").
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from pathlib import Path


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", default=os.environ.get("ADAPTRADE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--stocks", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import psycopg

    from adaptrade.analytics import data, run
    from adaptrade.backtest.aggregate import aggregate
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.results import build_result
    from adaptrade.data.synthetic import generate, synthetic_benchmark
    from adaptrade.storage.runs import RunStore
    from adaptrade.strategy.params import StrategyConfig

    bars = generate([f"S{i:03d}" for i in range(a.stocks)], a.bars, 3)
    res = build_result(run_backtest(bars, StrategyConfig(kind="fixed", rsi_period=10, buy=48.0, sell=52.0)),
                       synthetic_benchmark(bars.dates, 3), "^SYNTH-SPX", settings={"source": "synthetic", "seed": 3})
    summary = aggregate(res.stocks)
    eq = res.equity_long()
    rows = len(res.stocks) + len(res.trades) + len(res.params) + len(eq)
    print(f"run: {a.stocks} stocks x {a.bars} bars = {len(res.stocks):,} stocks, {len(res.trades):,} trades, "
          f"{len(res.params):,} params, {len(eq):,} equity rows ({rows:,} rows)")

    admin = psycopg.connect(a.pg, autocommit=True)
    name = f"adaptrade_bench_{secrets.token_hex(3)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    pg = a.pg.rsplit("/", 1)[0] + "/" + name
    tmp = Path(tempfile.mkdtemp())
    results: list[tuple[str, str, float, str]] = []
    try:
        for label, target in (("DuckDB", str(tmp / "bench.duckdb")), ("PostgreSQL", pg)):
            with RunStore(target) as st:
                st.save(res, summary)  # warm-up (compiles the COPY encoder, creates tables)
                t, rid = _best(lambda: st.save(res, summary), a.repeat)
                results.append((label, "write run (stocks, trades, params, equity)", t, f"{rows / t:,.0f} rows/s"))
                t, loaded = _best(lambda: st.load_run(rid), a.repeat)  # type: ignore[arg-type]
                results.append((label, "read run back (load_run)", t, f"{rows / t:,.0f} rows/s"))
            t, rd = _best(lambda: data.load(target, rid), a.repeat)  # type: ignore[arg-type]
            results.append((label, "analytics: load run into DuckDB", t, ""))
            for kind in run.KINDS:
                t, _ = _best(lambda: run.tables(rd, kind), a.repeat)  # type: ignore[union-attr]
                results.append((label, f"analytics {kind}", t, ""))
        # report.html's analytics sections, from the run's frames in memory (what backtest --out adds to the report)
        from adaptrade.reports.html_analytics import analytics_html

        frames_ = {"stocks": res.stocks, "trades": res.trades, "equity": eq, "summary": summary}
        t, _ = _best(lambda: analytics_html(frames_, lambda f: "", (0.37, 0.20)), a.repeat)
        results.append(("report.html", "analytics sections (returns, attribution, tax, drawdowns)", t, ""))
        # peers of the bulk paths
        with psycopg.connect(pg, autocommit=True) as con:
            con.execute("CREATE TABLE peer_equity (run_id text, symbol text, date timestamp, equity double precision)")
            recs = list(zip(["r"] * len(eq), eq["symbol"].astype(str), eq["date"].dt.to_pydatetime(), eq["equity"].astype(float)))

            def write_rows() -> None:
                with con.transaction(), con.cursor() as cur, cur.copy("COPY peer_equity FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["text", "text", "timestamp", "float8"])
                    for r in recs:
                        cp.write_row(r)

            t, _ = _best(write_rows, 1)
            results.append(("peer: psycopg Copy.write_row", f"equity table only ({len(eq):,} rows, binary COPY row by row)", t,
                            f"{len(eq) / t:,.0f} rows/s"))
        frames = {"stocks": res.stocks, "trades": res.trades, "params": res.params, "equity": eq}
        t, _ = _best(lambda: [df.to_parquet(tmp / f"{k}.parquet") for k, df in frames.items()], a.repeat)
        results.append(("peer: pandas to_parquet", "the same four frames as files", t, f"{rows / t:,.0f} rows/s"))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    width = max(len(r[1]) for r in results)
    print(f"\n| {'store':<28} | {'what':<{width}} | {'time':>10} | {'rate':>16} |")
    print(f"| {'-' * 28} | {'-' * width} | {'-' * 10} | {'-' * 16} |")
    for label, what, t, rate in results:
        shown = f"{t:.3f} s" if t >= 1 else f"{t * 1000:.0f} ms"
        print(f"| {label:<28} | {what:<{width}} | {shown:>10} | {rate:>16} |")


if __name__ == "__main__":
    main()
