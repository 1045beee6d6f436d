"""Terminal tables for the research commands (rich): seed vs measured, walk-forward, sweep."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adaptrade.research.phase7 import COMPARE


def fmt(v: Any, kind: str) -> str:
    """A value for a table cell: pct (+1.23%), pct0 (94%), pct1 (93.2%), num (3.825), count, text."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if kind == "pct":
        return f"{v * 100:+.2f}%"
    if kind == "pct0":
        return f"{v * 100:.0f}%"
    if kind == "pct1":
        return f"{v * 100:.1f}%"
    if kind == "num":
        return f"{v:.3f}"
    if kind == "bp":
        return f"{v * 1e4:+.2f} bp"
    return str(v)


def ci(pair: Any, kind: str) -> str:
    """A confidence interval 'lo..hi'."""
    lo, hi = pair
    return f"{fmt(lo, kind)}..{fmt(hi, kind)}"


def seed_table(doc: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str, list[str]]]]:
    """The seed's figures next to every measured variant, as text cells: ([(source, variant)], [(label, seed, cells)]).

    One builder for both renderings (the terminal table here, the Markdown one in docs/results.md).
    """
    seed = doc["seed_figures"]
    cols = [(s, v) for s in doc["sources"] for v in s["variants"]]
    rows: list[tuple[str, str, list[str]]] = []
    for label, key, seed_key, kind in COMPARE:
        sv = seed.get(seed_key) if seed_key else None
        if key == "beat_benchmark":
            rows.append((label, f"{sv}/{seed['stocks']}", [f"{v['aggregate'][key]}/{v['aggregate']['stocks']}" for _, v in cols]))
        else:
            rows.append((label, fmt(sv, kind), [fmt(v["aggregate"].get(key), kind) for _, v in cols]))
    rows += [
        ("benchmark", "S&P 500", [s["benchmark"] for s, _ in cols]),
        ("mean outperformance, 95% CI", "—", [ci(v["portfolio"]["outperformance_ci"], "pct") for _, v in cols]),
        ("beat share, 95% CI", "—", [ci(v["portfolio"]["beat_share_ci"], "pct0") for _, v in cols]),
        ("mean daily excess over buy & hold", "—", [fmt(v["portfolio"]["mean_daily_excess"], "bp") for _, v in cols]),
        ("PSR (daily excess over B&H > 0)", "—", [fmt(v["portfolio"]["psr"], "num") for _, v in cols]),
        ("DSR (N = variants on this source)", "—", [f"{fmt(v['portfolio']['dsr'], 'num')} (N={v['portfolio']['n_trials']})" for _, v in cols]),
        ("stocks beat / same / trail B&H at 95%", "—", [
            f"{v['stock_verdicts'].get('beats buy-and-hold', 0)} / {v['stock_verdicts'].get('indistinguishable from buy-and-hold', 0)} / "
            f"{v['stock_verdicts'].get('trails buy-and-hold', 0)}" for _, v in cols]),
    ]
    return [(s["source"], v["variant"]) for s, v in cols], rows


def print_phase7(console: Console, doc: dict[str, Any]) -> None:
    """The seed's table next to every measured variant, then the evidence rows and verdicts."""
    cols, rows = seed_table(doc)
    t = Table(title="Phase 7 reproduced: the seed's figures vs measured (50 NASDAQ-100 names, adaptive RSI, per-stock all-in)",
              title_justify="left")
    t.add_column("metric")
    t.add_column("seed", justify="right")
    for source, variant in cols:
        t.add_column(f"{source}\n{variant.replace('/', chr(10))}", justify="right")
    for label, seed_cell, cells in rows:
        t.add_row(escape(label), seed_cell, *cells)
    console.print(t)
    console.print(escape(f"seed: {doc['seed_note']}"), highlight=False)
    for s in doc["sources"]:
        console.print(f"\n[bold]{s['source']}[/bold] {s['start']}..{s['end']} ({s['stocks']} stocks, benchmark {s['benchmark']}, {s['seconds']} s)")
        for v in s["variants"]:
            console.print(f"  {v['variant']}: {escape(v['portfolio']['verdict'])}", highlight=False, soft_wrap=True)
        console.print(f"  survivorship: {escape(str(s['survivorship']['statement']))}", highlight=False, soft_wrap=True)
        for mode, wf in s["walk_forward"].items():
            print_walk_forward(console, wf, f"  walk-forward ({mode})")


def print_walk_forward(console: Console, wf: dict[str, Any], title: str) -> None:
    """In-sample vs out-of-sample per window, then the stitched out-of-sample totals and verdict."""
    t = Table(title=escape(title), title_justify="left")
    chosen = any(r.get("choice") for r in wf["windows"])
    for c in ("window", "in-sample", "IS return", "IS B&H", "IS Sharpe", "out-of-sample", "OOS return", "OOS B&H", "OOS Sharpe", "OOS beat B&H"):
        t.add_column(c, justify="right")
    if chosen:
        t.add_column("chosen in-sample", justify="left")
    for r in wf["windows"]:
        t.add_row(str(r["window"]), f"{r['is_start']}..{r['is_end']}", fmt(r["is_mean_return"], "pct"), fmt(r["is_mean_buy_hold"], "pct"),
                  fmt(r["is_mean_sharpe"], "num"), f"{r['oos_start']}..{r['oos_end']}", fmt(r["oos_mean_return"], "pct"),
                  fmt(r["oos_mean_buy_hold"], "pct"), fmt(r["oos_mean_sharpe"], "num"), fmt(r["oos_beat_buy_hold_share"], "pct0"),
                  *([escape(str(r["choice"]))] if chosen else []))
    console.print(t)
    o = wf["out_of_sample"]
    console.print(f"    out of sample {o['start']}..{o['end']} chained: mean return {fmt(o['mean_return'], 'pct')}, buy & hold "
                  f"{fmt(o['mean_buy_hold'], 'pct')}, benchmark {fmt(o['mean_benchmark'], 'pct')}, mean Sharpe {fmt(o['mean_sharpe'], 'num')}",
                  highlight=False)
    console.print(f"    verdict: {escape(o['verdict']['verdict'])}", highlight=False, soft_wrap=True)


def sweep_verdict(dsr_value: float, n_configs: int, level: float = 0.95) -> str:
    """What the DSR of a sweep's best configuration supports, and no more (used by the terminal and docs/results.md).

    The DSR compares the best Sharpe with the expected best of n unskilled configurations whose
    Sharpes vary as much as the ones tried; that variance includes systematic differences between
    configurations (e.g. time in the market), not only luck, so a low DSR does not mean that
    luck produced the best result (docs/research.md, "Sweeps").
    """
    if n_configs == 1:  # SR0 = 0: the DSR is the PSR against no excess
        return (f"one configuration: its Sharpe {'is' if not math.isnan(dsr_value) and dsr_value > level else 'is not'} "
                f"distinguishable from no excess over buy-and-hold (PSR {fmt(dsr_value, 'num')}, needs > {level:.2f})")
    if not math.isnan(dsr_value) and dsr_value > level:
        return (f"after counting {n_configs} distinct configurations, the best one's Sharpe exceeds the best of {n_configs} "
                f"unskilled ones (DSR {dsr_value:.3f} > {level:.2f})")
    return (f"no edge shown: after counting {n_configs} distinct configurations, the best one's Sharpe is not distinguishable "
            f"from the best of {n_configs} unskilled ones (DSR {fmt(dsr_value, 'num')}, needs > {level:.2f})")


def print_sweep(console: Console, res: Any, history: dict[str, Any] | None, top: int = 10) -> None:
    """The best trials by excess Sharpe and the deflation over every distinct configuration tried."""
    df = res.trials
    d = res.deflated
    good = df[df["ok"] & df["distinct"]].sort_values(["excess_sharpe", "trial"], ascending=[False, True]).head(top)
    t = Table(title=f"sweep: {len(df)} trials ({d['distinct_configs']} distinct configurations) on {res.executor} "
                    f"({res.workers} workers), {res.seconds:.1f} s; best {len(good)} by excess Sharpe", title_justify="left")
    for c in ("trial", "params", "mean return", "mean B&H", "beat bench", "mean Sharpe", "excess SR/day", "trades"):
        t.add_column(c, justify="left" if c == "params" else "right")
    for r in good.itertuples(index=False):
        t.add_row(str(r.trial), escape(str(r.params)), fmt(r.mean_return, "pct"), fmt(r.mean_buy_hold, "pct"),
                  fmt(r.beat_benchmark_share, "pct0"), fmt(r.mean_sharpe, "num"), fmt(r.excess_sharpe, "num"), str(r.trades))
    console.print(t)
    rep = (f"; {d['repeated_trials']} repeated an earlier trial's effective settings and were not counted again"
           if d["repeated_trials"] else "")
    console.print(f"best trial {d['best_trial']}: DSR {fmt(d['dsr'], 'num')} against SR0 {fmt(d['sr0'], 'num')} per day "
                  f"(N = {d['n_trials']} distinct configurations, {d['failed_trials']} failed, V[SR] {d['sr_variance']:.2e}{rep})",
                  highlight=False)
    n, value = d["n_trials"], d["dsr"]
    if history:
        console.print(f"counting all {history['n_trials']} distinct configurations stored for this data "
                      f"({history['new_configs']} new in this sweep): DSR {fmt(history['dsr'], 'num')} (SR0 {fmt(history['sr0'], 'num')})",
                      highlight=False)
        if not math.isnan(value) and value > 0.95:  # the stricter of the two decides
            n, value = history["n_trials"], history["dsr"]
    console.print("verdict: " + sweep_verdict(value, n), highlight=False)
