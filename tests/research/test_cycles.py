"""Backtest cycles: consecutive periods, selection from earlier scores only, stored score history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adaptrade.parallel import runner
from adaptrade.cli import app
from adaptrade.errors import ConfigError
from adaptrade.research.cycles import periods, run_cycles, summary_table, verdict
from adaptrade.settings import Settings
from adaptrade.storage.scores import ScoreStore
from adaptrade.universe.scoring import rank_by_score

CANDS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "ADBE", "INTC", "CSCO", "PEP"]


def test_periods_are_consecutive_and_disjoint() -> None:
    blocks = periods("synthetic", 3, 100, None, None)
    assert [len(b) for b in blocks] == [100, 100, 100] and str(blocks[-1][-1]) == "2024-03-08"
    allb = np.concatenate(blocks)
    assert np.all(np.diff(allb) > np.timedelta64(0, "D"))
    assert str(periods("archive", 2, 50, "2010-01-04", None)[0][0]) == "2010-01-04"
    for bad in [dict(cycles=0), dict(period_bars=10), dict(start="2024-01-02")]:
        kw = dict(source="synthetic", cycles=2, period_bars=100, start=None, end=None) | bad
        with pytest.raises(ConfigError):
            periods(**kw)  # type: ignore[arg-type]


def test_synthetic_cycles_select_from_earlier_scores(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    req = runner.RunRequest(seed=5)
    run_id, reps = run_cycles(req, Settings(), CANDS, cycles=3, period_bars=120, select=3, db_path=db, executor="serial")
    assert [r.cycle for r in reps] == [1, 2, 3]
    assert reps[0].selection.loc[reps[0].selection["selected"], "symbol"].tolist() == CANDS[:3]  # no scores yet
    for prev, cur in zip(reps, reps[1:]):
        assert cur.start > prev.end  # out of sample: the period starts after the scored one ends
        best = rank_by_score(prev.scores)["symbol"].head(3).tolist()
        assert sorted(cur.selection.loc[cur.selection["selected"], "symbol"]) == sorted(best)
    tab = summary_table(reps)
    assert (tab["selected_n"] == 3).all() and (tab["unselected_n"] == 7).all()
    assert tab["scored_before"].tolist() == [False, True, True]
    assert "Out of sample (2 cycles" in verdict(tab)
    with ScoreStore(db, read_only=True) as ss:
        hist = ss.history()
        latest = ss.latest()
    assert len(hist) == 30 and set(hist["run_id"]) == {run_id} and sorted(set(hist["cycle"])) == [1, 2, 3]
    assert (latest["cycle"] == 3).all() and len(latest) == 10


def test_archive_cycles_filter_liquidity_per_period(shared_data_dir: Path) -> None:
    req = runner.RunRequest(source="archive", data_dir=shared_data_dir, start="2011-01-03")
    _, reps = run_cycles(req, Settings(data_dir=shared_data_dir), ["AAPL", "MSFT", "PLUG", "FCEL"], cycles=2, period_bars=60,
                         select=1, executor="serial")
    assert all(any(line.startswith("PLUG: ADV") for line in r.dropped) for r in reps)  # illiquid back then
    assert set(reps[0].stocks["symbol"]) == {"AAPL", "MSFT"} and reps[0].start == "2011-01-03"
    _, by_dollars = run_cycles(req, Settings(data_dir=shared_data_dir), ["AAPL", "MSFT", "PLUG", "FCEL"], cycles=2, period_bars=60,
                               select=1, executor="serial", min_dollar_volume=10_000_000.0)
    assert all(any(line.startswith("PLUG: ADV $") for line in r.dropped) for r in by_dollars)
    assert set(by_dollars[0].stocks["symbol"]) == {"AAPL", "MSFT"}


def test_cycle_command_liquidity_flags(shared_data_dir: Path) -> None:
    cli = CliRunner()
    base = ["cycle", "--source", "archive", "--data-dir", str(shared_data_dir), "--cycles", "1", "--period-bars", "40",
            "--symbols", "AAPL,PLUG", "--select", "1", "--start", "2011-01-03", "--no-store"]
    r = cli.invoke(app, base)  # the dollar filter by default since issue 11; the share filter on request
    assert r.exit_code == 0 and "close x volume >= $20,000,000" in r.output and "split-adjusted volumes" not in r.output, r.output
    sh = cli.invoke(app, base + ["--min-volume", "1000000"])
    assert sh.exit_code == 0 and "split-adjusted" in sh.output, sh.output
    d = cli.invoke(app, base + ["--min-dollar-volume", "10000000"])
    assert d.exit_code == 0 and "split-adjusted" not in d.output, d.output
    both = cli.invoke(app, base + ["--min-dollar-volume", "1", "--min-volume", "1"])
    assert both.exit_code == 2 and "not both" in both.output


def test_cycle_and_scores_commands(tmp_path: Path) -> None:
    cli = CliRunner()
    db = tmp_path / "c.duckdb"
    r = cli.invoke(app, ["cycle", "--cycles", "2", "--period-bars", "60", "--select", "2", "--symbols", "AAPL,MSFT,NVDA,AMZN",
                         "--db", str(db), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "selected vs unselected" in r.output and "Out of sample (1 cycles" in r.output
    assert (tmp_path / "o" / "cycles.csv").exists() and (tmp_path / "o" / "selection.csv").exists()
    s = cli.invoke(app, ["universe", "scores", "--db", str(db)])
    assert s.exit_code == 0 and "latest quality scores per source (4 shown)" in s.output
    bad = cli.invoke(app, ["cycle", "--period-bars", "60", "--years", "1"])
    assert bad.exit_code == 2 and "not both" in bad.output


def test_placebo_percentile() -> None:
    from adaptrade.research.cycles import placebo_percentile

    r = np.arange(10, dtype=float)
    top = np.array([False] * 8 + [True] * 2)
    assert placebo_percentile(r, top) > 0.95  # the two best: few random picks do as well
    assert placebo_percentile(r, top[::-1]) == 0.0  # the two worst
    assert np.isnan(placebo_percentile(r, np.zeros(10, dtype=bool)))
