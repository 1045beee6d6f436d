"""docs/results.md, generated: every number in it comes from one command (`make results`).

The file holds no timings or dates, so re-running the command on the same code and data gives
the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptrade.reports.research import fmt, seed_table, sweep_verdict

COMMAND = "make results   # = adaptrade experiment phase7 --out out/results --write-docs docs/results.md"


def _seed_table(doc: dict[str, Any]) -> list[str]:
    """Markdown: the seed's figures next to every measured variant (rows from `present.seed_table`)."""
    cols, rows = seed_table(doc)
    head = "| metric | seed | " + " | ".join(f"{source} {variant}" for source, variant in cols) + " |"
    return [head, "|---|" + "---:|" * (len(cols) + 1)] + [f"| {a} | {b} | " + " | ".join(c) + " |" for a, b, c in rows]


def _walk_forward(wf: dict[str, Any]) -> list[str]:
    """Markdown: in-sample vs out-of-sample per window and the chained out-of-sample verdict."""
    chosen = any(r.get("choice") for r in wf["windows"])
    lines = ["| window | in-sample | IS return | IS B&H | IS Sharpe | out-of-sample | OOS return | OOS B&H | OOS Sharpe | OOS beat B&H |"
             + (" chosen in-sample |" if chosen else ""), "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|" + ("---|" if chosen else "")]
    for r in wf["windows"]:
        lines.append(f"| {r['window']} | {r['is_start']}..{r['is_end']} | {fmt(r['is_mean_return'], 'pct')} | {fmt(r['is_mean_buy_hold'], 'pct')} | "
                     f"{fmt(r['is_mean_sharpe'], 'num')} | {r['oos_start']}..{r['oos_end']} | {fmt(r['oos_mean_return'], 'pct')} | "
                     f"{fmt(r['oos_mean_buy_hold'], 'pct')} | {fmt(r['oos_mean_sharpe'], 'num')} | {fmt(r['oos_beat_buy_hold_share'], 'pct0')} |"
                     + (f" {r['choice']} |" if chosen else ""))
    i, o = wf["in_sample"], wf["out_of_sample"]
    lines += ["", f"In-sample average over windows: return {fmt(i['mean_return'], 'pct')}, buy & hold {fmt(i['mean_buy_hold'], 'pct')}, "
              f"Sharpe {fmt(i['mean_sharpe'], 'num')}, beat buy & hold {fmt(i['beat_buy_hold_share'], 'pct0')}.",
              f"Out of sample, chained {o['start']}..{o['end']}: return {fmt(o['mean_return'], 'pct')}, buy & hold {fmt(o['mean_buy_hold'], 'pct')}, "
              f"benchmark {fmt(o['mean_benchmark'], 'pct')}, Sharpe {fmt(o['mean_sharpe'], 'num')}, beat buy & hold {fmt(o['beat_buy_hold_share'], 'pct0')}, "
              f"beat the benchmark {fmt(o['beat_benchmark_share'], 'pct0')}.", f"**Verdict (out of sample): {o['verdict']['verdict']}.**"]
    return lines


def _sweep(res: Any, source: str, n: int) -> list[str]:
    """Markdown: the sweep's best trials and the deflation over the distinct configurations."""
    df = res.trials
    good = df[df["ok"] & df["distinct"]].sort_values(["excess_sharpe", "trial"], ascending=[False, True]).head(5)
    d = res.deflated
    lines = [f"{n} random configurations requested (`adaptrade sweep --method random --trials {n} --source {source} --no-store`), "
             f"{d['distinct_configs']} distinct (draws repeating an earlier one's effective settings are drawn again; the fixed "
             "strategy ignores the learning settings, so they are left out of its draws). Best five by daily excess Sharpe over buy & hold:", "",
             "| trial | settings | mean return | mean B&H | beat benchmark | mean Sharpe | excess SR/day |", "|---:|---|---:|---:|---:|---:|---:|"]
    for r in good.itertuples(index=False):
        lines.append(f"| {r.trial} | `{r.params}` | {fmt(r.mean_return, 'pct')} | {fmt(r.mean_buy_hold, 'pct')} | "
                     f"{fmt(r.beat_benchmark_share, 'pct0')} | {fmt(r.mean_sharpe, 'num')} | {fmt(r.excess_sharpe, 'num')} |")
    lines += ["", f"Deflated over N = {d['n_trials']} distinct configurations ({d['failed_trials']} failed): variance of their "
              f"daily excess Sharpe ratios {d['sr_variance']:.2e}, SR0 = {fmt(d['sr0'], 'num')} per day, DSR of the best = "
              f"{fmt(d['dsr'], 'num')}. **{_cap(sweep_verdict(d['dsr'], d['n_trials']))}.**",
              "", _spread_note(d, int(res.best["n_obs"]))]
    return lines


def _spread_note(d: dict[str, Any], n_obs: int) -> str:
    """What the spread of the trial Sharpe ratios is made of, against the 1/(T-1) of independent unskilled trials."""
    from adaptrade.research.stats import expected_max_sharpe

    noise = 1.0 / max(n_obs - 1, 1)
    ratio = d["sr_variance"] / noise
    sr0_noise = expected_max_sharpe(noise, int(d["n_trials"]))
    head = (f"SR0 comes from the spread of the trial Sharpe ratios: V = {ratio:.2g} x the 1/(T-1) of independent unskilled "
            f"trials over T = {n_obs} days (which alone would give SR0 = {fmt(sr0_noise, 'num')}). ")
    if ratio > 2.0:
        body = ("Most of the spread is systematic, not estimation noise: the configurations differ in how long they stay out "
                "of the market against buy & hold, so SR0 and the DSR are conservative here. ")
    elif ratio < 0.5:
        body = ("The trials vary less than independent ones would: they are strongly correlated (same stocks and dates, "
                "similar rules), which the DSR takes in through V, not through N. ")
    else:
        body = "The spread is about what estimation noise alone would give. "
    return (head + body + "A low DSR says the best result is not distinguishable from the best of that many unskilled "
            "configurations, not that luck alone produced it (`docs/research.md`, \"Sweeps\").")


def _cap(text: str) -> str:
    """First letter upper case."""
    return text[:1].upper() + text[1:]


def _summary(doc: dict[str, Any], sweeps: dict[str, Any], n: int) -> list[str]:
    """Bullet points, one per source, built from the numbers below (costs on, next-open fills)."""
    seed = doc["seed_figures"]
    out = [f"* **seed** (its report): average return {fmt(seed['mean_return'], 'pct')}, {seed['beat_benchmark']}/{seed['stocks']} beat "
           f"the S&P 500, median outperformance {fmt(seed['median_outperformance'], 'pct')}, average Sharpe {seed['mean_sharpe']}, "
           f"win rate {fmt(seed['mean_win_rate'], 'pct1')}."]
    for s in doc["sources"]:
        v = next(x for x in s["variants"] if x["variant"] == "costs-on/next_open")
        a, p = v["aggregate"], v["portfolio"]
        wf = s["walk_forward"].get("carry")
        oos = (f" Out of sample (walk-forward, carry): return {fmt(wf['out_of_sample']['mean_return'], 'pct')} vs buy & hold "
               f"{fmt(wf['out_of_sample']['mean_buy_hold'], 'pct')}; {wf['out_of_sample']['verdict']['verdict']}.") if wf else ""
        d = sweeps[s["source"]].deflated if s["source"] in sweeps else None
        sw = f" Best of {d['distinct_configs']} distinct swept configurations: DSR {fmt(d['dsr'], 'num')}." if d else ""
        out.append(f"* **{s['source']}** ({s['start']}..{s['end']}, vs {s['benchmark']}, costs on, next-open fills): average return "
                   f"{fmt(a['mean_return'], 'pct')} vs buy & hold {fmt(a['mean_buy_hold_return'], 'pct')}, {a['beat_benchmark']}/{a['stocks']} "
                   f"beat {s['benchmark']}, median outperformance {fmt(a['median_outperformance'], 'pct')}, average Sharpe "
                   f"{fmt(a['mean_sharpe'], 'num')}, win rate {fmt(a['mean_win_rate'], 'pct1')}; portfolio: {p['verdict']}.{oos}{sw}")
    return out


def write_results(path: Path, doc: dict[str, Any], settings: Any, data_dir: Path | None, sweep_trials: int,
                  log: Callable[[str], None] = lambda s: None) -> None:
    """Run the sweeps and the random-walk check, then write the whole Markdown file."""
    from dataclasses import replace

    from adaptrade.parallel.runner import RunRequest
    from adaptrade.research.nulltest import random_walk_false_positives
    from adaptrade.research.phase7 import strategy_config
    from adaptrade.research.sweep import trial_settings
    from adaptrade.research.recorded import sweep_and_record

    cfg = doc["config"]
    sweeps = {}
    for s in doc["sources"]:
        req = RunRequest(source=s["source"], universe="nasdaq100", stocks=cfg["stocks"], bars=cfg["bars"], seed=cfg["seed"],  # type: ignore[arg-type]
                         start=s["start"] if s["source"] == "archive" else None, end=cfg["end"], data_dir=data_dir,
                         strategy=strategy_config(settings, True, "next_open"))
        sweeps[s["source"]], _, _ = sweep_and_record(req, settings, trial_settings("random", {}, sweep_trials, 0), store=False, executor="serial")
        log(f"{s['source']} sweep: {sweep_trials} trials done")
    null = random_walk_false_positives(range(20), stocks=20, bars=1000)
    free = random_walk_false_positives(range(20), stocks=20, bars=1000, config=replace(strategy_config(settings, False, "next_open")))
    log("random-walk check done")
    L = ["# Results: the seed's Phase 7 experiment, reproduced and tested for overfitting", "",
         "Generated by one command from a clean checkout, with the real data in `../shared/data`:", "", "```", COMMAND, "```", "",
         "Nothing here is typed by hand; re-running the command on the same code and data gives this file again. "
         "Method and definitions: `docs/research.md`. Returns are fractions of the starting cash over the whole window; "
         "Sharpe ratios in tables are annualised, SR/day and the PSR/DSR inputs are per day.", "",
         f"Setup: the first {cfg['stocks']} names of the NASDAQ-100 list, adaptive RSI (start 14, 30/70), per-stock all-in, "
         "costs on = 1 bp commission + 5 bp slippage per side, off = 0; fills at the next open or (optimistic) at the signal close.", "",
         "## In short", ""] + _summary(doc, sweeps, sweep_trials) + ["", "## The seed's table next to the measured one", ""]
    L += _seed_table(doc)
    L += ["", f"The seed's column is its own report ({doc['seed_note']}). Verdicts (portfolio = equal-weight average of the "
          "stocks' daily return minus buy & hold, DSR counting the variants run on the same source):", ""]
    for s in doc["sources"]:
        for v in s["variants"]:
            L.append(f"* {s['source']} {v['variant']}: {v['portfolio']['verdict']}")
    L += ["", "## Universe, dates and survivorship", ""]
    for s in doc["sources"]:
        L.append(f"* **{s['source']}**, {s['start']}..{s['end']}, {s['stocks']} stocks, benchmark {s['benchmark']}: "
                 f"{s['survivorship']['universe']}. {s['survivorship']['statement']}")
    L += ["", "## Walk-forward: learned in-sample, scored out of sample", "",
          f"Rolling windows of {cfg['wf_in_sample_bars']} in-sample and {cfg['wf_out_of_sample_bars']} out-of-sample bars "
          "(step = out-of-sample size), costs on, next-open fills. `carry`: the out-of-sample window starts from the learned "
          "state (period, thresholds, volatility scalar, EMAs, counts) with a flat position and fresh cash; `frozen`: learned "
          "period and effective thresholds, adaptation off; `select`: walk-forward optimisation, the best of "
          f"{doc['sources'][0]['walk_forward_settings']['select_candidates'] if doc['sources'] else 0} random configurations by in-sample "
          "daily excess Sharpe over buy & hold, run out of sample from its carried state.", ""]
    for s in doc["sources"]:
        for mode, wf in s["walk_forward"].items():
            L += [f"### {s['source']}, {mode}", ""] + _walk_forward(wf) + [""]
    L += ["## Parameter sweeps and the Deflated Sharpe Ratio", ""]
    for s in doc["sources"]:
        L += [f"### {s['source']}", ""] + _sweep(sweeps[s["source"]], s["source"], sweep_trials) + [""]
    L += ["## Calibration: pure random walks (no mean reversion)", "",
          "On GBM data no RSI rule can time the market, so every edge claim is a false positive. "
          f"{null.seeds} seeds x {null.stocks} stocks x {null.bars} bars:", "",
          "| costs | portfolio edge claims | stock 'beats B&H' | stock 'trails B&H' |", "|---|---:|---:|---:|",
          f"| on | {null.portfolio_edges}/{null.seeds} | {null.stock_beats}/{null.stock_tests} ({fmt(null.stock_rate, 'pct1')}) | {null.stock_trails}/{null.stock_tests} |",
          f"| off | {free.portfolio_edges}/{free.seeds} | {free.stock_beats}/{free.stock_tests} ({fmt(free.stock_rate, 'pct1')}) | {free.stock_trails}/{free.stock_tests} |",
          "", "A two-sided 95% test puts 2.5% in the 'beats' tail; the portfolio verdict needs DSR > 0.95 and a bootstrap CI above 0, "
          "so it claims an edge at most 5% of the time. 'Trails' is likelier than 2.5% because the GBM drift is positive and the "
          "strategy is out of the market part of the time.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = _kept_sections(path)
    path.write_text("\n".join(L) + "\n" + kept)


KEEP_START, KEEP_END = "<!-- regimes: written from `adaptrade experiment regimes`, kept by make results -->", "<!-- /regimes -->"


def _kept_sections(path: Path) -> str:
    """The section of the old file between KEEP_START and KEEP_END (the regimes map), to write back unchanged."""
    if not path.is_file():
        return ""
    old = path.read_text()
    a, b = old.find(KEEP_START), old.find(KEEP_END)
    return "\n" + old[a : b + len(KEEP_END)] + "\n" if a >= 0 and b > a else ""
