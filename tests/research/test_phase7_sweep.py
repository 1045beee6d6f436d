"""The phase7 experiment and the sweep, end to end on small inputs (synthetic, and the real shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.parallel.runner import RunRequest
from adaptrade.cli import app
from adaptrade.errors import ConfigError
from adaptrade.research.phase7 import SEED, Phase7Config, run_phase7, write_outputs
from adaptrade.research.sweep import parse_space, run_sweep, trial_settings
from adaptrade.settings import load_settings

runner = CliRunner()
SMALL = dict(stocks=6, bars=800, wf_in_sample_bars=300, wf_out_of_sample_bars=200, n_boot=200)


def test_phase7_synthetic_document_and_files(tmp_path: Path) -> None:
    doc = run_phase7(Phase7Config(sources=("synthetic",), **SMALL), load_settings())  # type: ignore[arg-type]
    assert doc["seed_figures"] == SEED and SEED["mean_return"] == 0.3414
    src = doc["sources"][0]
    assert [v["variant"] for v in src["variants"]] == ["costs-on/next_open", "costs-on/close", "costs-off/next_open", "costs-off/close"]
    assert src["variants"][2]["commission_bps"] == 0.0 and src["variants"][0]["slippage_bps"] == 5.0
    assert all(v["portfolio"]["n_trials"] == 4 for v in src["variants"])  # the DSR counts every variant tried
    assert set(src["walk_forward"]) == {"carry", "frozen", "select"}
    assert all(r["choice"] for r in src["walk_forward"]["select"]["windows"])
    files = write_outputs(doc, tmp_path)
    assert {p.name for p in files} >= {"phase7.json", "phase7.csv", "stocks_synthetic_costs-on_next_open.csv"}
    back = json.loads((tmp_path / "phase7.json").read_text())
    assert back["sources"][0]["survivorship"]["statement"]
    csv = pd.read_csv(tmp_path / "phase7.csv")
    row = csv[(csv.metric == "mean_return") & (csv.variant == "costs-on/next_open")].iloc[0]
    assert row.seed == pytest.approx(0.3414)
    stocks = pd.read_csv(tmp_path / "stocks_synthetic_costs-on_next_open.csv")
    assert len(stocks) == 6 and stocks["verdict"].str.contains("buy-and-hold at 95%").all()


def test_phase7_real_data_states_survivorship(shared_data_dir: Path) -> None:
    settings = load_settings(data_dir=shared_data_dir)
    doc = run_phase7(Phase7Config(sources=("archive",), stocks=8, wf_modes=(), n_boot=200), settings, shared_data_dir)
    src = doc["sources"][0]
    assert src["benchmark"] == "SPY" and src["start"] == "2014-03-06" and src["end"] == "2024-03-08"
    s = src["survivorship"]
    assert "not all NASDAQ-100 members" in str(s["statement"]) and s["members_at_start"] + len(s["not_members_at_start"]) + len(s["membership_unclear"]) == 8  # type: ignore[operator]
    assert len(s["members_at_start_without_data"]) > 0  # type: ignore[arg-type]


def test_sweep_space_parsing_and_trials() -> None:
    assert parse_space("rsi_period=10..12;buy=25,30") == {"rsi_period": [10, 11, 12], "buy": [25.0, 30.0]}
    assert len(trial_settings("grid", parse_space("rsi_period=10..12;buy=25,30"), None, 0)) == 6
    r1, r2 = trial_settings("random", {}, 5, 7), trial_settings("random", {}, 5, 7)
    assert r1 == r2 and len(r1) == 5
    for bad in ("nope=1", "buy=", "rsi_period=x"):
        with pytest.raises(ConfigError):
            parse_space(bad)
    with pytest.raises(ConfigError):
        trial_settings("grid", {}, None, 0)


def test_random_sweeps_draw_distinct_effective_configurations() -> None:
    """Regression: random draws of kind=fixed differing only in settings it ignores were separate trials (and inflated N)."""
    from adaptrade.research.sweep import ADAPTIVE_ONLY, config_key, space_size

    draws = trial_settings("random", {}, 300, 0)
    keys = [config_key(p) for p in draws]
    assert len(draws) == 300 and len(set(keys)) == 300
    assert all(not (set(ADAPTIVE_ONLY) & set(p)) for p in draws if p["kind"] == "fixed")
    assert config_key({"kind": "fixed", "learning_alpha": 0.1}) == config_key({"kind": "fixed", "learning_alpha": 0.3})
    assert config_key({"kind": "adaptive", "learning_alpha": 0.1}) != config_key({"kind": "adaptive", "learning_alpha": 0.3})
    assert config_key({"buy": 30}) == config_key({"buy": 30.0})
    small = parse_space("kind=fixed,adaptive;rsi_period=14;buy=30;sell=70;learning_alpha=0.1,0.2;threshold_step=1;min_trades_to_adapt=5")
    assert space_size(small) == 3  # 1 fixed + 2 adaptive
    assert len(trial_settings("random", small, 10, 0)) == 3  # the whole space, not 10 with repeats


def test_sweep_runs_each_effective_configuration_once_and_counts_it_once() -> None:
    settings = load_settings()
    req = RunRequest(source="synthetic", stocks=3, bars=300, seed=5)
    params = trial_settings("grid", parse_space("kind=fixed,adaptive;rsi_period=10,14;learning_alpha=0.1,0.3"), None, 0)
    res = run_sweep(req, settings, params, executor="serial")
    df = res.trials
    assert len(df) == 8 and int(df["distinct"].sum()) == 6  # fixed x 2 periods collapse over learning_alpha
    assert res.deflated["n_trials"] == 6 and res.deflated["distinct_configs"] == 6 and res.deflated["repeated_trials"] == 2
    rep = df[~df["distinct"]].iloc[0]
    orig = df.loc[rep["same_as"]]
    assert rep["strategy"] == "fixed" and rep["learning_alpha"] != orig["learning_alpha"]
    assert rep["excess_sharpe"] == orig["excess_sharpe"] and rep["mean_return"] == orig["mean_return"]
    # the claim the dedup rests on: the fixed strategy's results do not depend on the learning settings
    fixed = [p for p in params if p["kind"] == "fixed" and p["rsi_period"] == 10]
    direct = run_sweep(req, settings, [fixed[0], fixed[1] | {"threshold_step": 0.5, "min_trades_to_adapt": 8, "rsi_period": 10.0}],
                       executor="serial")
    assert direct.deflated["distinct_configs"] == 1
    from adaptrade.research.sweep import TrialBatch, run_trials
    from adaptrade.parallel.batching import MemorySpec
    from adaptrade.parallel import runner as brunner
    from adaptrade.research.sweep import make_config

    bars = brunner.load_data(req, settings).bars
    cfgs = [make_config(req.strategy, f) for f in fixed] + [make_config(req.strategy, fixed[0] | {"threshold_step": 0.5, "min_trades_to_adapt": 8})]
    out = run_trials(TrialBatch(0, bars.symbols, MemorySpec(bars), cfgs[0], trials=tuple(enumerate(cfgs))))
    for _, tm, _ in out[1:]:
        np.testing.assert_array_equal(tm.total_return, out[0][1].total_return)
        assert tm.excess_sharpe == out[0][1].excess_sharpe


def test_sweep_counts_failed_trials_and_processes_match_serial() -> None:
    settings = load_settings()
    req = RunRequest(source="synthetic", stocks=4, bars=400, seed=3)
    params = trial_settings("grid", parse_space("rsi_period=10,14;buy=25,40"), None, 0)  # buy=40 is invalid for adaptive
    res = run_sweep(req, settings, params, executor="serial")
    assert len(res.trials) == 4 and int((~res.trials["ok"]).sum()) == 2 and res.deflated["n_trials"] == 4
    par = run_sweep(req, settings, params, executor="processes", workers=2)
    cols = ["trial", "ok", "mean_return", "excess_sharpe", "trades"]
    pd.testing.assert_frame_equal(res.trials[cols], par.trials[cols])


def test_cli_sweep_records_every_trial_and_deflates_history(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    args = ["sweep", "--trials", "6", "--stocks", "4", "--bars", "400", "--db", str(db), "--out", str(tmp_path / "o")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "o" / "trials.csv")) == 6
    r2 = runner.invoke(app, args + ["--sweep-seed", "1"])
    assert r2.exit_code == 0 and "counting all 12 distinct configurations" in r2.output, r2.output
    r3 = runner.invoke(app, args + ["--sweep-seed", "1"])  # the same configurations again: recorded, not counted again
    assert r3.exit_code == 0 and "counting all 12 distinct configurations stored for this data (0 new" in r3.output, r3.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sweep_trials").fetchone()[0] == 18  # type: ignore[index]
        assert con.execute("SELECT count(*) FROM sweeps").fetchone()[0] == 3  # type: ignore[index]


def test_cli_sweep_universe_extended_runs_the_extended_names(tmp_path: Path) -> None:
    """--universe extended sweeps the extended list's names (past the NASDAQ-100, where the default pads with SYN names)."""
    args = ["sweep", "--method", "grid", "--params", "kind=fixed;rsi_period=14", "--stocks", "110", "--bars", "120", "--no-store"]
    r = runner.invoke(app, args + ["--universe", "extended", "--out", str(tmp_path / "e")])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "e" / "trials.csv").iloc[0]
    from adaptrade.commands.backtest import _universe_symbols  # the selection `backtest --universe extended` runs

    names = tuple(_universe_symbols("extended", None, None, load_settings(), "synthetic")[0].split(",")[:110])
    assert not any(n.startswith("SYN") for n in names)
    from adaptrade.research.phase7 import strategy_config

    st = load_settings()
    req = RunRequest(source="synthetic", symbols=names, stocks=110, bars=120, seed=42, end=st.data_end,
                     strategy=strategy_config(st, True, st.fill))
    direct = run_sweep(req, st,
                       trial_settings("grid", parse_space("kind=fixed;rsi_period=14"), None, 0), executor="serial").trials.iloc[0]
    assert got["mean_return"] == pytest.approx(direct["mean_return"], rel=1e-12)
    padded = runner.invoke(app, args + ["--out", str(tmp_path / "n")])  # nasdaq100 + SYN0001..: other stocks, other numbers
    assert padded.exit_code == 0, padded.output
    assert pd.read_csv(tmp_path / "n" / "trials.csv").iloc[0]["mean_return"] != got["mean_return"]
    bad = runner.invoke(app, ["sweep", "--universe", "nasdaq100-pit", "--source", "archive", "--trials", "1"])
    assert bad.exit_code != 0 and "needs --start" in bad.output and "Traceback" not in bad.output


def test_trial_store_counts_configurations_and_reads_older_stores(tmp_path: Path) -> None:
    from adaptrade.research.trialstore import TrialStore

    old = pd.DataFrame({"trial": [0, 1], "excess_sharpe": [0.01, None], "error": [None, "x"]})  # before config_key existed
    new = pd.DataFrame({"trial": [0, 1, 2], "excess_sharpe": [0.02, 0.02, 0.03], "error": [None, None, None],
                        "config_key": ["a", "a", "b"]})
    with TrialStore(tmp_path / "s.duckdb") as ts:
        ts.save("k", {}, {}, old)
        ts.save("k", {}, {}, new)
        ts.save("other", {}, {}, new)
        h = ts.history_configs("k")
    assert len(h) == 4 and h["a"] == 0.02 and h["b"] == 0.03  # 2 old trials, one each, + 2 distinct configurations


def test_cli_phase7_and_clear_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["experiment", "phase7", "--source", "synthetic", "--stocks", "3", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "+34.14%" in r.output and "47/50" in r.output and (tmp_path / "phase7.json").exists()
    for args in (["experiment", "phase7", "--source", "nowhere"], ["sweep", "--method", "grid", "--params", "foo=1"],
                 ["experiment", "walkforward", "--mode", "sideways"], ["sweep", "--method", "grid"]):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and "error:" in bad.output and "Traceback" not in bad.output, args
    wf = runner.invoke(app, ["experiment", "walkforward", "--stocks", "3", "--bars", "600", "--in-sample", "300",
                             "--out-of-sample", "100", "--mode", "all", "--out", str(tmp_path)])
    assert wf.exit_code == 0, wf.output
    assert set(json.loads((tmp_path / "walkforward.json").read_text())) == {"carry", "frozen", "reset", "select"}


def test_results_markdown_is_generated_from_the_run(tmp_path: Path) -> None:
    from adaptrade.reports.results_doc import write_results

    settings = load_settings()
    doc = run_phase7(Phase7Config(sources=("synthetic",), **SMALL), settings)  # type: ignore[arg-type]
    md = tmp_path / "results.md"
    write_results(md, doc, settings, None, 5)
    text = md.read_text()
    for part in ("## In short", "| average return | +34.14% |", "## Universe, dates and survivorship", "### synthetic, carry",
                 "Deflated over N = 5 distinct configurations", "not distinguishable from the best of 5 unskilled ones",
                 "## Calibration: pure random walks"):
        assert part in text, part
    a = doc["sources"][0]["variants"][0]["aggregate"]
    assert f"{a['mean_return'] * 100:+.2f}%" in text  # the measured figure, not a typed one
    # one builder for the seed table, two renderings: the Markdown rows and the terminal rows are the same cells
    from rich.console import Console

    from adaptrade.reports.research import print_phase7, seed_table

    _, rows = seed_table(doc)
    con = Console(record=True, width=400)
    print_phase7(con, doc)
    term = con.export_text()
    for label, seed_cell, cells in rows:
        assert f"| {label} | {seed_cell} | " + " | ".join(cells) + " |" in text, label
        assert any(label in line and all(c in line for c in cells) for line in term.splitlines()), label



def test_worker_cache_never_serves_another_specs_bars() -> None:
    """Regression: the sweep worker cache once keyed in-memory data by id(), which Python recycles,
    so a later sweep on other data with the same symbols could run on the earlier bars."""
    from adaptrade.parallel.batching import Batch, MemorySpec
    from adaptrade.data.synthetic import generate
    from adaptrade.research.sweep import _bars_and_features
    from adaptrade.strategy.params import StrategyConfig

    syms = ("AAA", "BBB")
    first = Batch(0, syms, MemorySpec(generate(syms, 200, seed=1)), StrategyConfig())
    bars1, _ = _bars_and_features(first)
    second = Batch(0, syms, MemorySpec(generate(syms, 200, seed=2)), StrategyConfig())
    bars2, _ = _bars_and_features(second)
    np.testing.assert_array_equal(bars2.close, second.spec.bars.close)
    assert not np.array_equal(bars1.close, bars2.close)
    assert _bars_and_features(second)[0] is bars2  # same spec: served from the cache


def test_sweep_verdict_says_what_the_dsr_shows() -> None:
    from adaptrade.reports.research import sweep_verdict

    low = sweep_verdict(0.01, 200)
    assert "not distinguishable from the best of 200 unskilled ones (DSR 0.010" in low and "luck" not in low
    assert "exceeds the best of 200 unskilled ones" in sweep_verdict(0.97, 200)
    assert sweep_verdict(0.2, 1).startswith("one configuration: its Sharpe is not distinguishable from no excess")


def test_compiled_daily_returns_equal_verdicts_bit_for_bit() -> None:
    """The sweep's compiled daily returns (no GIL) give exactly research.verdict.daily_returns, holes and NaNs included."""
    import numpy as np

    from adaptrade.research.sweep import daily_returns_fast
    from adaptrade.research.verdict import daily_returns

    rng = np.random.default_rng(3)
    v = np.cumprod(1.0 + 0.01 * rng.standard_normal((6, 90)), axis=1)
    valid = rng.random((6, 90)) > 0.2
    v[2, 10:20] = np.nan
    valid[4] = False
    v[5, 0] = 0.0
    assert np.array_equal(daily_returns_fast(v, valid), daily_returns(v, valid), equal_nan=True)


def test_threads_sweep_equals_serial() -> None:
    """Trials run side by side on the thread pool record exactly the serial rows."""
    from adaptrade.parallel import runner
    from adaptrade.research.sweep import run_sweep
    from adaptrade.settings import Settings

    req = runner.RunRequest(stocks=8, bars=300, seed=5)
    params = [{"learning_alpha": 0.05 + 0.02 * i} for i in range(5)]
    a = run_sweep(req, Settings(), params, executor="serial")
    b = run_sweep(req, Settings(), params, executor="threads", workers=2)
    assert b.executor == "threads"
    assert a.trials.to_csv(index=False) == b.trials.to_csv(index=False)
