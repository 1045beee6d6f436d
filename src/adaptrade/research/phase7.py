"""The seed's Phase 7 experiment, reproduced: 50 NASDAQ-100 stocks, adaptive RSI, per-stock all-in.

Runs it on synthetic and real data, with costs on and off and next-open and close fills, and
puts the seed's own figures next to the measured ones, with the overfitting statistics (PSR, DSR
over the variants tried, bootstrap CIs), per-stock and portfolio verdicts, walk-forward
in-sample / out-of-sample figures and the survivorship statement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.errors import ConfigError
from adaptrade.settings import DATA_END, Settings

# The seed's reported figures (50 NASDAQ stocks, synthetic mean-reverting data): its own numbers, verbatim.
SEED = {"stocks": 50, "mean_return": 0.3414, "beat_benchmark": 47, "beat_benchmark_share": 0.94,
        "median_outperformance": 0.2172, "mean_sharpe": 3.825, "mean_win_rate": 0.932}
SEED_NOTE = "seed report: 50 NASDAQ stocks, synthetic mean-reverting data, costs and fills not stated"
VARIANTS: tuple[tuple[bool, str], ...] = ((True, "next_open"), (True, "close"), (False, "next_open"), (False, "close"))
SOURCES = ("synthetic", "archive")


@dataclass(frozen=True)
class Phase7Config:
    """What the experiment runs on: stocks, bars and window, seed, walk-forward sizes."""

    sources: tuple[str, ...] = SOURCES
    stocks: int = 50
    bars: int = 2520
    seed: int = 42
    end: str = DATA_END
    wf_in_sample_bars: int = 756
    wf_out_of_sample_bars: int = 252
    wf_modes: tuple[str, ...] = ("carry", "frozen", "select")
    wf_candidates: int = 30  # `select`: random configurations tried in every in-sample window
    n_boot: int = 1000


def variant_name(costs: bool, fill: str) -> str:
    """A short label: costs-on/next_open, costs-off/close, ..."""
    return f"costs-{'on' if costs else 'off'}/{fill}"


def strategy_config(settings: Settings, costs: bool, fill: str) -> Any:
    """The seed's strategy (adaptive RSI 14, 30/70) with this variant's costs and fill."""
    from adaptrade.strategy.params import StrategyConfig

    return StrategyConfig(kind="adaptive", rsi_period=14, buy=30.0, sell=70.0, fill=fill,  # type: ignore[arg-type]
                          commission_bps=settings.commission_bps if costs else 0.0,
                          slippage_bps=settings.slippage_bps if costs else 0.0,
                          initial_cash=settings.initial_cash, learning_alpha=settings.learning_alpha,
                          min_trades_to_adapt=settings.min_trades_to_adapt, threshold_step=settings.threshold_step)


def _request(source: str, cfg: Phase7Config, start: str | None, data_dir: Path | None, strategy: Any) -> Any:
    """The runner request for one source (same 50 names, same dates on both sources)."""
    from adaptrade.parallel.runner import RunRequest

    return RunRequest(source=source, universe="nasdaq100", stocks=cfg.stocks, bars=cfg.bars, seed=cfg.seed,  # type: ignore[arg-type]
                      start=start if source == "archive" else None, end=cfg.end, data_dir=data_dir, strategy=strategy)


def _synthetic_start(cfg: Phase7Config) -> str:
    """First date of the synthetic window (the real-data run uses the same dates)."""
    from adaptrade.data.calendar import nyse_sessions

    return str(nyse_sessions(cfg.end, cfg.bars)[0])


def run_source(source: str, cfg: Phase7Config, settings: Settings, data_dir: Path | None = None,
               log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Every variant on one source: aggregates, verdicts (DSR over the variants), per-stock tables, walk-forward."""
    from adaptrade.parallel import runner
    from adaptrade.backtest.aggregate import aggregate
    from adaptrade.research.stats import moments
    from adaptrade.research.survivorship import survivorship
    from adaptrade.research.verdict import (
        excess_panel,
        portfolio_series,
        portfolio_verdict,
        stock_verdicts,
    )

    if source not in SOURCES:
        raise ConfigError(f"unknown source '{source}' (synthetic|archive)", field="source")
    t0 = time.perf_counter()
    start = _synthetic_start(cfg)
    base = _request(source, cfg, start, data_dir, strategy_config(settings, True, "next_open"))
    loaded = runner.load_data(base, settings)
    bars = loaded.bars
    if cfg.wf_modes:  # fail before the long part when the windows cannot fit
        from adaptrade.research.walkforward import windows

        windows(bars.n_bars, cfg.wf_in_sample_bars, cfg.wf_out_of_sample_bars)
    results = {}
    for costs, fill in VARIANTS:
        req = replace(base, strategy=strategy_config(settings, costs, fill))
        res, _ = runner.run(req, settings, data=loaded, executor="serial")
        results[(costs, fill)] = res
        log(f"{source} {variant_name(costs, fill)}: {bars.n_symbols} stocks done")
    sharpes = {k: moments(portfolio_series(excess_panel(r.output.equity, bars.close, bars.valid))).sharpe for k, r in results.items()}
    trials = [float(s) for s in sharpes.values()]
    variants, stock_tables = [], {}
    for (costs, fill), res in results.items():
        agg = aggregate(res.stocks)
        pv = portfolio_verdict(res.output.equity, bars.close, bars.valid, res.stocks["outperformance"].to_numpy(), trials,
                               n_boot=cfg.n_boot, seed=cfg.seed)
        table = res.stocks.copy()
        sv = pd.DataFrame(stock_verdicts(res.output.equity, bars.close, bars.valid))
        table = pd.concat([table.reset_index(drop=True), sv], axis=1)
        name = variant_name(costs, fill)
        stock_tables[name] = table
        counts = sv["verdict"].str.split(" at ").str[0].value_counts().to_dict()
        variants.append({"source": source, "variant": name, "costs": costs, "fill": fill,
                         "commission_bps": res.output.config.commission_bps, "slippage_bps": res.output.config.slippage_bps,
                         "aggregate": agg, "portfolio": pv.to_dict(), "stock_verdicts": counts})
    wf = {}
    if cfg.wf_modes:
        from adaptrade.backtest.engine import Features
        from adaptrade.research.walkforward import (
            candidate_configs,
            summarize,
            walk_forward,
        )

        feats = Features.compute(bars)
        base_cfg = strategy_config(settings, True, "next_open")
        cands = candidate_configs(base_cfg, cfg.wf_candidates, cfg.seed) if "select" in cfg.wf_modes else None
        for mode in cfg.wf_modes:
            runs = walk_forward(bars, base_cfg, cfg.wf_in_sample_bars, cfg.wf_out_of_sample_bars, mode, feats, cands)  # type: ignore[arg-type]
            wf[mode] = summarize(runs, bars, loaded.benchmark_close, mode, seed=cfg.seed)
            log(f"{source} walk-forward ({mode}): {len(runs)} windows done")
    return {
        "source": source, "benchmark": loaded.benchmark_symbol, "start": str(bars.dates[0]), "end": str(bars.dates[-1]),
        "bars": int(bars.n_bars), "stocks": int(bars.n_symbols), "notes": list(loaded.notes),
        "survivorship": survivorship(loaded.data_dir, list(bars.symbols), str(bars.dates[0]), str(bars.dates[-1]), source),
        "variants": variants, "walk_forward": wf,
        "walk_forward_settings": {"in_sample_bars": cfg.wf_in_sample_bars, "out_of_sample_bars": cfg.wf_out_of_sample_bars,
                                  "strategy": "costs-on/next_open", "select_candidates": cfg.wf_candidates},
        "seconds": round(time.perf_counter() - t0, 2), "_stock_tables": stock_tables,
    }


def run_phase7(cfg: Phase7Config, settings: Settings, data_dir: Path | None = None,
               log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The whole experiment over the chosen sources; the seed's figures included for comparison."""
    t0 = time.perf_counter()
    sources = [run_source(s, cfg, settings, data_dir, log) for s in cfg.sources]
    return {"seed_figures": dict(SEED), "seed_note": SEED_NOTE, "config": cfg.__dict__ | {"sources": list(cfg.sources), "wf_modes": list(cfg.wf_modes)},
            "sources": sources, "seconds": round(time.perf_counter() - t0, 2)}


COMPARE = (  # (label, aggregate key, seed key, kind)
    ("average return", "mean_return", "mean_return", "pct"),
    ("beat the S&P 500", "beat_benchmark", "beat_benchmark", "count"),
    ("beat share", "beat_benchmark_share", "beat_benchmark_share", "pct0"),
    ("median outperformance", "median_outperformance", "median_outperformance", "pct"),
    ("average Sharpe", "mean_sharpe", "mean_sharpe", "num"),
    ("average win rate", "mean_win_rate", "mean_win_rate", "pct1"),
    ("average buy & hold", "mean_buy_hold_return", None, "pct"),
    ("beat buy & hold", "beat_buy_hold", None, "count"),
)


def comparison_rows(doc: dict[str, Any]) -> pd.DataFrame:
    """Long table: one row per (source, variant, metric) with the measured and the seed's value."""
    rows = []
    for src in doc["sources"]:
        for v in src["variants"]:
            agg, pf = v["aggregate"], v["portfolio"]
            for label, key, seed_key, _ in COMPARE:
                rows.append({"source": src["source"], "variant": v["variant"], "metric": key, "label": label,
                             "measured": agg.get(key), "seed": doc["seed_figures"].get(seed_key) if seed_key else None})
            for key in ("psr", "dsr", "n_trials", "excess_sharpe", "mean_daily_excess"):
                rows.append({"source": src["source"], "variant": v["variant"], "metric": key, "label": key, "measured": pf[key], "seed": None})
            for key, (lo, hi) in (("outperformance_ci", pf["outperformance_ci"]), ("beat_share_ci", pf["beat_share_ci"])):
                rows.append({"source": src["source"], "variant": v["variant"], "metric": key + "_low", "label": key, "measured": lo, "seed": None})
                rows.append({"source": src["source"], "variant": v["variant"], "metric": key + "_high", "label": key, "measured": hi, "seed": None})
            rows.append({"source": src["source"], "variant": v["variant"], "metric": "verdict", "label": "verdict", "measured": pf["verdict"], "seed": None})
    return pd.DataFrame(rows)


def write_outputs(doc: dict[str, Any], out: Path) -> list[Path]:
    """phase7.json, phase7.csv and one stocks_<source>_<variant>.csv per run (verdict per stock) into out."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    written = []
    clean = {k: v for k, v in doc.items() if k != "sources"}
    clean["sources"] = [{k: v for k, v in s.items() if not k.startswith("_")} for s in doc["sources"]]
    p = out / "phase7.json"
    p.write_text(json.dumps(jsonable(clean), indent=2, allow_nan=False) + "\n")
    written.append(p)
    p = out / "phase7.csv"
    comparison_rows(doc).to_csv(p, index=False)
    written.append(p)
    for s in doc["sources"]:
        for name, table in s.get("_stock_tables", {}).items():
            p = out / f"stocks_{s['source']}_{name.replace('/', '_')}.csv"
            table.to_csv(p, index=False)
            written.append(p)
    return written


def jsonable(o: Any) -> Any:
    """A copy that json.dumps accepts: NaN/inf -> None, numpy scalars -> Python, tuples -> lists, dates -> str."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if o is None or isinstance(o, str):
        return o
    return str(o)
