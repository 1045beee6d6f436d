"""Planted bugs (`make mutants`): each mutant is one text patch applied to a temporary copy of the
repository's `src/` and `tests/`; the tests that should catch it run against the copy (PYTHONPATH
pointing at it, its own numba cache and hypothesis database), and the table says which bugs the
suite kills and which survive. docs/testing.md records the results and why each survivor survives.

    python scripts/mutants.py                 # every mutant
    python scripts/mutants.py --only LA1,R1   # some of them
    python scripts/mutants.py --list          # what is planted where
    python scripts/mutants.py --markdown      # also the table for docs/testing.md

A patch whose text no longer occurs exactly once is reported `stale` (the code moved: update the
mutant), never silently skipped. Exit code 1 when a look-ahead mutant survives or a patch is stale.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "src/adaptrade/"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: replace `old` (which must occur exactly once in `file`) by `new`."""

    id: str
    area: str  # look-ahead | fills | costs | statistics | risk | walk-forward
    what: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


LOOKAHEAD_PF = ("tests/portfolio/test_lookahead_portfolio.py", "tests/portfolio/test_portfolio.py", "tests/portfolio/test_portfolio_review.py")
LOOKAHEAD_PS = ("tests/backtest/test_lookahead.py", "tests/strategy/test_parity.py")
COST_PS = ("tests/portfolio/test_portfolio.py", "tests/backtest/test_metrics_empyrical.py", "tests/backtest/test_peers.py")  # fastest first
PORTFOLIO = ("tests/portfolio/test_portfolio.py", "tests/portfolio/test_portfolio_review.py", "tests/portfolio/test_lookahead_portfolio.py")

MUTANTS: tuple[Mutant, ...] = (
    # --- the six bugs of issue 9 ------------------------------------------------------------------
    Mutant("LA1", "look-ahead", "entry limit price taken from the next bar's open", PKG + "portfolio/kernel.py",
           "new_order(i, t, 1, LIMIT, tif, c,", "new_order(i, t, 1, LIMIT, tif, open_[i, min(t + 1, T - 1)],", LOOKAHEAD_PF),
    Mutant("LA2", "look-ahead", "close-fill mode fills the last bar's own signal", PKG + "strategy/kernel.py",
           "        if fill_close:\n            if not last:", "        if fill_close:\n            if True:",
           ("tests/backtest/test_lookahead.py",)),
    Mutant("WF1", "walk-forward", "out-of-sample figures filled from the in-sample run", PKG + "research/walkforward.py",
           'row.update({f"oos_{k}": v for k, v in _means(r.out_of_sample, b_oos, cash0).items()})',
           'row.update({f"oos_{k}": v for k, v in _means(r.in_sample, b_is, cash0).items()})', ("tests/research/test_walkforward.py",)),
    Mutant("R1", "risk", "gross-exposure cap ignores orders still being worked", PKG + "portfolio/kernel.py",
           "exposure = value + book[BOOK_RESERVED]", "exposure = value", PORTFOLIO),
    Mutant("S1", "statistics", "Corwin-Schultz spread halved", PKG + "execution/liquidity.py",
           "out[s, pos[k]] = acc / window", "out[s, pos[k]] = acc / window / 2.0", ("tests/execution/test_liquidity.py",)),
    Mutant("S2", "statistics", "StrategyEnsemble.signals() returns +1 for every stock", PKG + "strategy/adaptive.py",
           "return {d.symbol: d.signal for d in decisions if d.signal != 0}", "return {d.symbol: 1 for d in decisions}",
           ("tests/strategy/test_parity.py",)),
    # --- more look-ahead ----------------------------------------------------------------------------
    Mutant("LA3", "look-ahead", "per-stock decision reads the next bar's RSI", PKG + "backtest/kernel.py",
           "rsi[i, :, t], vol[i, t], t == n_t - 1", "rsi[i, :, min(t + 1, n_t - 1)], vol[i, t], t == n_t - 1", LOOKAHEAD_PS),
    Mutant("LA4", "look-ahead", "portfolio signal from the next bar's RSI", PKG + "portfolio/kernel.py",
           "sig = decide(st, params, rsi[i, :, t])", "sig = decide(st, params, rsi[i, :, min(t + 1, T - 1)])", LOOKAHEAD_PF),
    Mutant("LA5", "look-ahead", "stop-loss checked against the next bar's close", PKG + "portfolio/kernel.py",
           "r = stop_rule(close[i, t], st[S_ENTRY_PRICE]", "r = stop_rule(close[i, min(t + 1, T - 1)], st[S_ENTRY_PRICE]", LOOKAHEAD_PF),
    Mutant("LA6", "look-ahead", "entry cost estimate (order type) from the next bar's ADV", PKG + "portfolio/kernel.py",
           "cost_bps = estimated_cost_bps(qty, adv[i, t], vol[i, t]", "cost_bps = estimated_cost_bps(qty, adv[i, min(t + 1, T - 1)], vol[i, t]",
           LOOKAHEAD_PF),
    Mutant("LA7", "look-ahead", "RSI features shifted one bar into the future", PKG + "backtest/engine.py",
           "rsi = rsi_stack(bars.close, bars.valid, periods)", "rsi = np.roll(rsi_stack(bars.close, bars.valid, periods), -1, axis=2)",
           LOOKAHEAD_PS),
    Mutant("LA8", "look-ahead", "entry sized from the next bar's close", PKG + "portfolio/kernel.py",
           "            c = close[i, t]\n", "            c = close[i, min(t + 1, T - 1)]\n", LOOKAHEAD_PF),
    Mutant("LA9", "look-ahead", "next-open mode fills at the signal bar's own close", PKG + "strategy/kernel.py",
           "    fill_close = params[P_FILL_CLOSE] != 0.0\n", "    fill_close = True\n", LOOKAHEAD_PS),
    # --- fills ---------------------------------------------------------------------------------------
    Mutant("F1", "fills", "a limit buy may fill above its limit", PKG + "portfolio/fills.py",
           "if is_limit and px > act_i[ACT_LIMIT]:", "if False and px > act_i[ACT_LIMIT]:", PORTFOLIO),
    Mutant("F2", "fills", "participation cap ignored on buys", PKG + "portfolio/fills.py",
           "            q = min(q, room)\n", "            q = q\n", PORTFOLIO),
    Mutant("F3", "fills", "market orders fill at the close instead of the open", PKG + "portfolio/fills.py",
           "base = o if (math.isfinite(o) and o > 0.0) else c", "base = c", PORTFOLIO),
    Mutant("F4", "fills", "a limit buy fills although the bar's low never reaches its limit", PKG + "execution/orders.py",
           "        return limit if low_t <= limit else math.nan\n", "        return limit\n", PORTFOLIO + ("tests/execution/test_broker.py",)),
    # --- costs ---------------------------------------------------------------------------------------
    Mutant("C1", "costs", "per-stock buys pay no commission", PKG + "strategy/kernel.py",
           "    unit = px * (1.0 + params[P_COMMISSION])\n", "    unit = px\n",
           COST_PS),
    Mutant("C2", "costs", "per-stock sells get slippage in their favour", PKG + "strategy/kernel.py",
           "    px = price * (1.0 - params[P_SLIPPAGE])\n", "    px = price * (1.0 + params[P_SLIPPAGE])\n",
           COST_PS),
    Mutant("C3", "costs", "portfolio buys pay no market impact", PKG + "portfolio/fills.py",
           "px = base * (1.0 + slip + imp)", "px = base * (1.0 + slip)", PORTFOLIO + ("tests/execution/test_broker.py",)),
    Mutant("C4", "costs", "portfolio sells pay no commission", PKG + "portfolio/fills.py",
           "proceeds = q * px * (1.0 - comm)", "proceeds = q * px", PORTFOLIO),
    # --- statistics ----------------------------------------------------------------------------------
    Mutant("S3", "statistics", "Sharpe ratio not annualised", PKG + "backtest/metrics.py",
           "out[i, 1] = mean / sd * math.sqrt(TRADING_DAYS)", "out[i, 1] = mean / sd", ("tests/backtest/test_metrics_empyrical.py",)),
    Mutant("S4", "statistics", "PSR without the sqrt(n - 1) factor", PKG + "research/stats.py",
           "return norm_cdf((sr - sr_star) * math.sqrt(n - 1.0) / math.sqrt(var))", "return norm_cdf((sr - sr_star) / math.sqrt(var))",
           ("tests/research/test_stats.py",)),
    Mutant("S5", "statistics", "20-day volatility with ddof=0", PKG + "data/features.py",
           "out[s, pos[k]] = np.sqrt(ss / (window - 1)) * scale", "out[s, pos[k]] = np.sqrt(ss / window) * scale",
           ("tests/data/test_features.py",)),
    Mutant("S6", "statistics", "ADV over window - 1 bars", PKG + "data/features.py",
           "            out[s, pos[k]] = acc / window\n", "            out[s, pos[k]] = acc / (window - 1)\n",
           ("tests/data/test_features.py", "tests/execution/test_liquidity.py")),
    # --- risk ----------------------------------------------------------------------------------------
    Mutant("R2", "risk", "per-stock position cap not applied", PKG + "portfolio/orders.py",
           "w, r = cap(w0, risk[LIM_MAX_POSITION], RULE_MAX_POSITION)", "w, r = w0, 0", PORTFOLIO + ("tests/risk/test_rules.py",)),
    Mutant("R3", "risk", "fixed stop-loss never fires", PKG + "risk/rules.py",
           "if pct > 0.0 and close_t <= entry_price * (1.0 - pct):", "if pct > 0.0 and close_t < 0.0:",
           ("tests/risk/test_rules.py", "tests/risk/test_scenarios.py")),
    Mutant("R4", "risk", "drawdown breaker never trips", PKG + "risk/rules.py",
           "if dd > risk[LIM_MAX_DRAWDOWN]:", "if dd > 10.0 * risk[LIM_MAX_DRAWDOWN]:", ("tests/risk/test_rules.py", "tests/risk/test_scenarios.py")),
    Mutant("R5", "risk", "Kelly warm-up ignored", PKG + "risk/rules.py",
           "if n_trades < risk[LIM_KELLY_MIN_TRADES] or not math.isfinite(win_rate):", "if not math.isfinite(win_rate):",
           ("tests/risk/test_rules.py", "tests/risk/test_scenarios.py")),
    Mutant("R6", "risk", "buys may spend reserved cash of other orders", PKG + "portfolio/orders.py",
           "w2, r = cap(w1, (book[BOOK_CASH] - book[BOOK_RESERVED]) / eq, RULE_CASH)", "w2, r = cap(w1, book[BOOK_CASH] / eq, RULE_CASH)",
           PORTFOLIO + ("tests/risk/test_scenarios.py",)),
    # --- walk-forward --------------------------------------------------------------------------------
    Mutant("WF2", "walk-forward", "carry mode starts out-of-sample from scratch", PKG + "research/walkforward.py",
           "oos = run_backtest(ob, config, ofeat, carried_states(final, config))", "oos = run_backtest(ob, config, ofeat)",
           ("tests/research/test_walkforward.py",)),
    Mutant("WF3", "walk-forward", "stitched out-of-sample totals include the first in-sample span", PKG + "research/walkforward.py",
           "    valid[:, :first] = False\n", "    valid[:, :0] = False\n", ("tests/research/test_walkforward.py",)),
)


def _copy_repo(dst: Path) -> Path:
    """The repository's code, tests and the files tests read, copied under dst/repo; dst/shared points at the
    real shared data (tests find it beside the clone)."""
    root = dst / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for d in ("src", "tests", "benchmarks", "scripts", "docs"):
        if (REPO / d).is_dir():
            shutil.copytree(REPO / d, root / d, ignore=ignore)
    for f in ("pyproject.toml", "README.md", "Makefile", "constraints.txt"):
        if (REPO / f).exists():
            shutil.copy2(REPO / f, root / f)
    shared = REPO.parent / "shared"
    if shared.exists():
        (dst / "shared").symlink_to(shared.resolve())
    return root


def run_one(m: Mutant, timeout: float, extra: list[str], control: bool = False) -> tuple[str, float, str]:
    """(status, seconds, detail): killed | survived | stale | error. `control`: run the tests unpatched."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.id}-") as tmp:
        root = _copy_repo(Path(tmp))
        path = root / m.file
        text = path.read_text()
        if text.count(m.old) != 1:
            return "stale", 0.0, f"patch text found {text.count(m.old)} times in {m.file}"
        if not control:
            path.write_text(text.replace(m.old, m.new))
        env = dict(os.environ, PYTHONPATH=str(root / "src"), NUMBA_CACHE_DIR=str(Path(tmp) / "numba"), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header", "-rf", *extra, *m.tests]
        try:
            p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "error", time.perf_counter() - t0, f"timeout after {timeout:.0f}s"
        secs = time.perf_counter() - t0
        out = p.stdout + p.stderr
        if p.returncode == 0:
            return "survived", secs, ""
        if p.returncode == 1:
            failed = [ln.split(" ")[1] for ln in out.splitlines() if ln.startswith("FAILED ")]
            if not failed:
                failed = [ln.strip() for ln in out.splitlines() if "::" in ln and ("Error" in ln or "assert" in ln)][:1]
            last = out.strip().splitlines()[-1] if out.strip() else ""
            return "killed", secs, (failed[0] if failed else f"a test failed ({last})").replace(str(root) + "/", "")
        return "error", secs, f"pytest exit {p.returncode}: {out.strip().splitlines()[-1] if out.strip() else ''}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per mutant")
    ap.add_argument("--control", action="store_true", help="first run every named test file on an unpatched copy (they must pass)")
    ap.add_argument("--markdown", action="store_true", help="also print the results as a markdown table (docs/testing.md)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    a = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not a.only or m.id in a.only.split(",")]
    if a.list:
        for m in chosen:
            print(f"{m.id:5} {m.area:13} {m.file.removeprefix(PKG):26} {m.what}")
        return 0
    if a.control:
        files = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        status, secs, detail = run_one(Mutant("CTRL", "control", "no patch", chosen[0].file, chosen[0].old, chosen[0].old, files),
                                       a.timeout, a.pytest_args, control=True)
        print(f"control: the named tests on an unpatched copy: {'pass' if status == 'survived' else 'FAIL ' + detail} ({secs:.0f}s)", flush=True)
        if status != "survived":
            return 1
    rows = []
    print(f"{'id':5} {'area':13} {'status':9} {'secs':>6}  bug / killed by")
    for m in chosen:
        status, secs, detail = run_one(m, a.timeout, a.pytest_args)
        rows.append((m, status, secs, detail))
        print(f"{m.id:5} {m.area:13} {status:9} {secs:6.0f}  {m.what}" + (f"\n{'':36}{detail}" if detail else ""), flush=True)
    killed = sum(r[1] == "killed" for r in rows)
    print(f"\n{killed}/{len(rows)} killed; survived: {', '.join(r[0].id for r in rows if r[1] == 'survived') or 'none'}; "
          f"stale/error: {', '.join(r[0].id for r in rows if r[1] in ('stale', 'error')) or 'none'}")
    if a.markdown:
        print("\n| id | area | planted bug | result | killed by |\n| --- | --- | --- | --- | --- |")
        for m, status, _, detail in rows:
            print(f"| {m.id} | {m.area} | {m.what} | {status} | {detail.split('::')[-1] if status == 'killed' else detail} |")
    bad = [r for r in rows if r[1] in ("stale", "error") or (r[1] == "survived" and r[0].area == "look-ahead")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
