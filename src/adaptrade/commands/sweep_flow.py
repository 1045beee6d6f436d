"""The `adaptrade sweep` flow: build the request and trials, run them, record them, deflate, report."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from adaptrade.errors import ConfigError
from adaptrade.research.recorded import sweep_and_record


def run_sweep_command(console: Console, err: Console, *, method: str, params: str | None, trials: int | None, sweep_seed: int,
                      source: str, data_dir: Path | None, stocks: int, bars: int, seed: int, start: str | None, end: str | None,
                      executor: str | None, workers: int | None, scheduler: str | None, db: str | None, store: bool,
                      out: Path | None, top: int, universe: str = "nasdaq100") -> None:
    """Everything `adaptrade sweep` does after parsing its flags."""
    from adaptrade.commands.common import progress

    from adaptrade.parallel.runner import RunRequest
    from adaptrade.research.phase7 import jsonable, strategy_config
    from adaptrade.reports.research import print_sweep
    from adaptrade.research.sweep import parse_space, trial_settings
    from adaptrade.settings import load_settings

    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1", field="workers")
    from adaptrade.storage.backend import db_overrides, display, store_target

    settings = load_settings(data_dir=data_dir, **db_overrides(db))
    space = parse_space(params)
    plist = trial_settings(method, space, trials, sweep_seed)
    if method == "random" and trials and len(plist) < trials:
        console.print(f"note: the space holds only {len(plist)} distinct configurations (settings a strategy kind ignores "
                      f"do not count); running those, not {trials}", highlight=False)
    symbols: tuple[str, ...] = ()
    if universe != "nasdaq100":  # the other named universes as an explicit list, as `backtest --universe` does
        from adaptrade.commands.backtest import _universe_symbols
        from adaptrade.universe.universe import PIT

        if universe not in ("extended", PIT):
            raise ConfigError(f"unknown universe '{universe}' (known universes: nasdaq100, extended, {PIT})", field="universe")
        joined, notes = _universe_symbols(universe, None, data_dir, settings, source, start)
        symbols = tuple(s for s in joined.split(",") if s)
        for note in notes:
            console.print(f"note: {note}", highlight=False)
    req = RunRequest(source=source, universe="nasdaq100", symbols=symbols, stocks=stocks, bars=bars, seed=seed,  # type: ignore[arg-type]
                     start=start, end=end or settings.data_end, data_dir=data_dir, strategy=strategy_config(settings, True, settings.fill))
    from adaptrade.research.sweep import AllTrialsFailed

    try:
        with progress("sweep trials", len(plist)) as (bar, task):
            res, history, sid = sweep_and_record(req, settings, plist, store=store, db=db, executor=executor, workers=workers,
                                                 scheduler=scheduler, progress=lambda n: bar.update(task, completed=n))
    except AllTrialsFailed as exc:  # the failed trials are still worth reading: written with their error column
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            exc.trials.to_csv(out / "trials.csv", index=False)
            err.print(f"wrote {out}/trials.csv (every trial, with its error column)", highlight=False)
        raise
    print_sweep(console, res, history, top)
    if sid:
        console.print(f"recorded {len(res.trials)} trials as sweep {sid} in {display(store_target(settings))} (tables sweeps, sweep_trials)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        res.trials.to_csv(out / "trials.csv", index=False)
        (out / "sweep.json").write_text(json.dumps(jsonable({"sweep_id": sid, "method": method, "params": params, "trials": len(res.trials),
                                                             "executor": res.executor, "workers": res.workers, "seconds": res.seconds,
                                                             "deflated": res.deflated, "deflated_with_history": history,
                                                             "best": res.best}), indent=2) + "\n")
        from adaptrade.reports.research_html import sweep_report

        sweep_report(res.trials, res.deflated, out / "report.html", history if isinstance(history, dict) else None)
        console.print(f"wrote {out}/trials.csv, {out}/sweep.json, {out}/report.html")
