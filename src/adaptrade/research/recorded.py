"""A sweep whose trials are kept: run it, add its trials to the trial store, and deflate its best
Sharpe over every distinct configuration ever tried on the same data (so repeats never hide trials)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def sweep_and_record(req: Any, settings: Any, params: list[dict[str, Any]], *, store: bool, db: str | Path | None = None,
                     executor: str | None = None, workers: int | None = None, scheduler: str | None = None,
                     progress: Any = None, data: Any = None) -> tuple[Any, dict[str, Any] | None, str | None]:
    """Run the trials; with `store`, add them to the DuckDB trial store and deflate over every trial on the same data.

    Returns (SweepResult, DSR over the distinct configurations stored for this data + this sweep's, or None;
    sweep id or None).
    """
    from adaptrade.parallel import runner
    from adaptrade.research.stats import dsr
    from adaptrade.research.sweep import run_sweep
    from adaptrade.storage.backend import store_target
    from adaptrade.storage.trials import TrialStore, data_key

    loaded = data if data is not None else runner.load_data(req, settings)
    res = run_sweep(req, settings, params, executor=executor, workers=workers, scheduler=scheduler, progress=progress, data=loaded)
    if not store:
        return res, None, None
    b = loaded.bars
    key = data_key(req.source, b.symbols, str(b.dates[0]), str(b.dates[-1]), f"seed={req.seed}" if req.source == "synthetic" else settings.price_basis)
    with TrialStore(store_target(settings, db), lock_timeout=settings.store_lock_timeout) as ts:
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
