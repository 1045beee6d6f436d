"""The `adaptrade sweep` flow: build the request and trials, run them, record them, deflate, report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console

from adaptrade.errors import ConfigError


def sweep_and_record(req: Any, settings: Any, params: list[dict[str, Any]], *, store: bool, db: Path | None = None,
                     executor: str | None = None, workers: int | None = None, scheduler: str | None = None,
                     progress: Any = None, data: Any = None) -> tuple[Any, dict[str, Any] | None, str | None]:
    """Run the trials; with `store`, add them to the DuckDB trial store and deflate over every trial on the same data.

    Returns (SweepResult, DSR over the distinct configurations stored for this data + this sweep's, or None;
    sweep id or None).
    """
    from adaptrade.backtest import runner
    from adaptrade.research.stats import dsr
    from adaptrade.research.sweep import run_sweep
    from adaptrade.research.trialstore import TrialStore, data_key

    loaded = data if data is not None else runner.load_data(req, settings)
    res = run_sweep(req, settings, params, executor=executor, workers=workers, scheduler=scheduler, progress=progress, data=loaded)
    if not store:
        return res, None, None
    b = loaded.bars
    key = data_key(req.source, b.symbols, str(b.dates[0]), str(b.dates[-1]), f"seed={req.seed}" if req.source == "synthetic" else settings.price_basis)
    with TrialStore(Path(db or settings.db_path)) as ts:
        before = ts.history_configs(key)
        sid = ts.save(key, {"source": req.source, "stocks": b.n_symbols, "start": str(b.dates[0]), "end": str(b.dates[-1]),
                            "executor": res.executor, "workers": res.workers}, res.deflated, res.trials)
    history = None
    if before:
        uniq = res.trials[res.trials["distinct"]]
        configs = dict(zip(uniq["config_key"], uniq["excess_sharpe"].astype(float))) | before  # one Sharpe per configuration
        allsr = [s for s in configs.values() if not math.isnan(s)]
        best = res.best
        d = dsr(float(best["excess_sharpe"]), int(best["n_obs"]), float(best["excess_skew"]), float(best["excess_kurt"]), allsr,
                n_trials=len(configs))
        history = {"dsr": d.dsr, "sr0": d.sr0, "n_trials": d.n_trials, "earlier_configs": len(before),
                   "new_configs": len(configs) - len(before)}
    return res, history, sid


def run_sweep_command(console: Console, err: Console, *, method: str, params: str | None, trials: int | None, sweep_seed: int,
                      source: str, data_dir: Path | None, stocks: int, bars: int, seed: int, start: str | None, end: str | None,
                      executor: str | None, workers: int | None, scheduler: str | None, db: Path | None, store: bool,
                      out: Path | None, top: int) -> None:
    """Everything `adaptrade sweep` does after parsing its flags."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from adaptrade.backtest.runner import RunRequest
    from adaptrade.research.phase7 import jsonable, strategy_config
    from adaptrade.research.present import print_sweep
    from adaptrade.research.sweep import parse_space, trial_settings
    from adaptrade.settings import load_settings

    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1", field="workers")
    settings = load_settings(data_dir=data_dir, db_path=db)
    space = parse_space(params)
    plist = trial_settings(method, space, trials, sweep_seed)
    if method == "random" and trials and len(plist) < trials:
        console.print(f"note: the space holds only {len(plist)} distinct configurations (settings a strategy kind ignores "
                      f"do not count); running those, not {trials}", highlight=False)
    req = RunRequest(source=source, universe="nasdaq100", stocks=stocks, bars=bars, seed=seed, start=start,  # type: ignore[arg-type]
                     end=end or "2024-03-08", data_dir=data_dir, strategy=strategy_config(settings, True, settings.fill))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("sweep trials", total=len(plist))
        res, history, sid = sweep_and_record(req, settings, plist, store=store, db=db, executor=executor, workers=workers,
                                             scheduler=scheduler, progress=lambda n: bar.update(task, completed=n))
    print_sweep(console, res, history, top)
    if sid:
        console.print(f"recorded {len(res.trials)} trials as sweep {sid} in {settings.db_path} (tables sweeps, sweep_trials)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        res.trials.to_csv(out / "trials.csv", index=False)
        (out / "sweep.json").write_text(json.dumps(jsonable({"sweep_id": sid, "method": method, "params": params, "trials": len(res.trials),
                                                             "executor": res.executor, "workers": res.workers, "seconds": res.seconds,
                                                             "deflated": res.deflated, "deflated_with_history": history,
                                                             "best": res.best}), indent=2) + "\n")
        console.print(f"wrote {out}/trials.csv, {out}/sweep.json")
