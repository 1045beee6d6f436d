"""The compiled multi-configuration sweep gives exactly the numbers of one kernel call per configuration.

`run_trials` runs a chunk's configurations in one compiled pass (backtest/sweep_kernel.py);
`run_trial` is the per-configuration path (run_backtest + stock_metrics + the excess series) it
replaced. Compared bit for bit (NaNs and the sign of zeros included) on synthetic bars with gaps
and on the shipped real sample, and through the `adaptrade sweep` command's files.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from adaptrade.cli import app
from adaptrade.parallel import runner
from adaptrade.parallel.batching import MemorySpec
from adaptrade.research.sweep import TrialBatch, make_config, parse_space, run_sweep, run_trial, run_trials, trial_settings
from adaptrade.settings import load_settings
from adaptrade.strategy.params import StrategyConfig

GRID = ("kind=fixed,adaptive;rsi_period=10,14,21;buy=25,32.5;sell=67.5,75;learning_alpha=0.1,0.3;"
        "threshold_step=1,2;min_trades_to_adapt=3")


def _same(a: object, b: object) -> bool:
    """Equal bit for bit: arrays with NaN in the same places and the same sign of zero; floats likewise."""
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        return False
    if x.dtype.kind == "f" or y.dtype.kind == "f":
        xf, yf = x.astype(np.float64), y.astype(np.float64)
        return bool(np.array_equal(xf, yf, equal_nan=True) and np.array_equal(np.signbit(xf), np.signbit(yf)))
    return bool(np.array_equal(x, y))


def _compare(bars: object, configs: list[StrategyConfig]) -> int:
    """Run the configurations both ways on `bars`; assert every TrialMetrics field equal; return trades seen."""
    batch = TrialBatch(0, bars.symbols, MemorySpec(bars), configs[0], trials=tuple(enumerate(configs)))  # type: ignore[attr-defined]
    together = run_trials(batch)
    n_trades = 0
    for (i, tm, err), cfg in zip(together, configs):
        assert err is None, err
        ref = run_trial(replace(batch, config=cfg))
        for f in fields(ref):
            assert _same(getattr(tm, f.name), getattr(ref, f.name)), (i, cfg, f.name)
        n_trades += int(ref.trades.sum())
    return n_trades


def _grid_configs(base: StrategyConfig) -> list[StrategyConfig]:
    out = [make_config(base, p) for p in trial_settings("grid", parse_space(GRID), None, 0)]
    out += [replace(base, kind="adaptive", fill="close"), replace(base, kind="fixed", whole_shares=True, rsi_period=12),
            replace(base, kind="adaptive", commission_bps=0.0, slippage_bps=0.0, initial_cash=12_345.0)]
    return out


def test_compiled_sweep_equals_per_configuration_synthetic_with_gaps() -> None:
    from adaptrade.data.synthetic import generate

    bars = generate(tuple(f"S{i}" for i in range(7)), 700, seed=11)
    valid = bars.valid.copy()
    valid[2, 100:140] = False  # a halt
    valid[3, :250] = False  # listed late
    valid[5, 600:] = False  # delisted early
    valid[6, :] = False  # no data at all
    gappy = replace(bars, valid=valid)
    n_trades = _compare(gappy, _grid_configs(StrategyConfig()))
    assert n_trades > 100  # the strategies traded: the comparison covered fills, exits and learning


def test_compiled_sweep_equals_per_configuration_real_sample(sample_dir: Path) -> None:
    settings = load_settings(data_dir=sample_dir)
    req = runner.RunRequest(source="archive", stocks=10, start="2019-01-01", end=settings.data_end, data_dir=sample_dir)
    bars = runner.load_data(req, settings).bars
    assert bars.n_symbols == 10 and bars.source.startswith("archive")  # real prices (holes: the synthetic test)
    assert _compare(bars, _grid_configs(StrategyConfig())) > 100


def test_run_sweep_rows_identical_both_ways_with_uncovered_and_invalid_configurations(sample_dir: Path) -> None:
    """Whole sweeps: trial tables equal as CSV text, including a fixed RSI(5) (outside the features: it fails
    with the same message) and an invalid adaptive threshold."""
    settings = load_settings(data_dir=sample_dir)
    req = runner.RunRequest(source="archive", stocks=6, start="2020-01-01", end=settings.data_end, data_dir=sample_dir)
    params = trial_settings("grid", parse_space("kind=fixed,adaptive;rsi_period=5,14;buy=30,40"), None, 0)
    a = run_sweep(req, settings, params, executor="threads", workers=2)
    b = run_sweep(req, settings, params, executor="serial", compiled=False)
    assert a.trials.to_csv(index=False) == b.trials.to_csv(index=False)
    assert a.trials["error"].str.contains("features hold RSI 10..21", na=False).any()
    assert a.trials["ok"].any() and (~a.trials["ok"]).any()


def test_cli_sweep_files_unchanged_by_the_compiled_pass(tmp_path: Path) -> None:
    """`adaptrade sweep --out` (compiled) writes the trials.csv and sweep.json of the per-configuration path."""
    from adaptrade.research.phase7 import jsonable, strategy_config

    spec = "kind=fixed,adaptive;rsi_period=10,16;buy=25,30;learning_alpha=0.1,0.3"
    r = CliRunner().invoke(app, ["sweep", "--method", "grid", "--params", spec, "--stocks", "5", "--bars", "600",
                                 "--executor", "serial", "--no-store", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    settings = load_settings()
    req = runner.RunRequest(source="synthetic", universe="nasdaq100", stocks=5, bars=600, seed=42, end=settings.data_end,
                            strategy=strategy_config(settings, True, settings.fill))
    ref = run_sweep(req, settings, trial_settings("grid", parse_space(spec), None, 0), executor="serial", compiled=False)
    assert (tmp_path / "trials.csv").read_text() == ref.trials.to_csv(index=False)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["best"] == json.loads(json.dumps(jsonable(ref.best))) and doc["deflated"] == json.loads(json.dumps(jsonable(ref.deflated)))
