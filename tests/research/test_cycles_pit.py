"""Cycles on the point-in-time NASDAQ-100: each cycle's candidates are the members on its start date."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adaptrade.parallel import runner
from adaptrade.cli import app
from adaptrade.data.sample import SAMPLE_SYMBOLS
from adaptrade.errors import ConfigError
from adaptrade.research.cycles import pit_by_cycle, pit_union, run_cycles
from adaptrade.settings import Settings
from adaptrade.universe.lists import nasdaq100_membership
from adaptrade.universe.universe import NasdaqUniverse

# 2 x 252 sessions from 2017-07-24: cycle 1 2017-07-24..2018-07-23, cycle 2 from 2018-07-24.
# PEP joined the NASDAQ-100 on 2018-07-23 (shipped membership copy): not a candidate in cycle 1, one in cycle 2.
ARGS = ["--cycles", "2", "--period-bars", "252", "--start", "2017-07-24"]


def test_cli_later_joiner_is_a_candidate_only_after_it_joined(sample_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["cycle", "--source", "archive", "--data-dir", str(sample_dir), "--universe", "nasdaq100-pit",
                                 *ARGS, "--select", "3", "--no-store", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    sel = pd.read_csv(tmp_path / "o" / "selection.csv")
    c1, c2 = (set(sel.loc[sel["cycle"] == k, "symbol"]) for k in (1, 2))
    assert c1 == set(SAMPLE_SYMBOLS) - {"PEP"} and c2 == set(SAMPLE_SYMBOLS)
    pep = sel[(sel["cycle"] == 2) & (sel["symbol"] == "PEP")].iloc[0]
    assert pd.isna(pep["score"]) and pep["reason"].startswith("no score yet")  # ranked among cycle 2's candidates
    assert sel.loc[sel["cycle"] == 2, "score"].notna().sum() == 9  # the others carry their cycle-1 scores
    tab = pd.read_csv(tmp_path / "o" / "cycles.csv")
    cols = ["members", "members_without_data", "members_with_data", "candidates"]
    assert tab[cols].values.tolist() == [[105, 96, 9, 9], [107, 97, 10, 10]]
    assert "point-in-time NASDAQ-100 on 2017-07-24: 105 members, 96 without a price file; 9 with data, 9 candidates" in r.output
    assert "point-in-time NASDAQ-100 on 2018-07-24: 107 members, 97 without a price file; 10 with data, 10 candidates" in r.output


def test_removed_member_stops_being_a_candidate(sample_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "universe").mkdir(parents=True)
    for f in sample_dir.glob("*.csv.gz"):
        (root / f.name).symlink_to(f)
    m = nasdaq100_membership().copy()
    m.loc[m["symbol"] == "INTC", "removed_date"] = "2018-07-24"  # fictitious removal on cycle 2's first day
    m.to_csv(root / "universe" / "nasdaq100_membership.csv", index=False)
    pits = pit_by_cycle(NasdaqUniverse(root), "archive", 2, 252, "2017-07-24", None)
    assert "INTC" in pits[0].with_data and "INTC" not in pits[1].members and "PEP" in pits[1].with_data
    cands = pit_union(pits)
    assert cands == sorted(SAMPLE_SYMBOLS)  # loaded once: everyone who is a candidate in some cycle
    req = runner.RunRequest(source="archive", data_dir=root, start="2017-07-24", symbols=tuple(cands))
    _, reps = run_cycles(req, Settings(data_dir=root), cands, cycles=2, period_bars=252, select=3, executor="serial", pit=pits)
    assert "INTC" in set(reps[0].stocks["symbol"]) and "PEP" not in set(reps[0].stocks["symbol"])
    assert "INTC" not in set(reps[1].selection["symbol"]) and "INTC" not in set(reps[1].stocks["symbol"])
    assert "PEP" in set(reps[1].selection["symbol"])
    assert reps[1].comparison()["members"] == len(pits[1].members) and reps[1].comparison()["candidates"] == 9


def test_synthetic_is_refused(sample_dir: Path) -> None:
    r = CliRunner().invoke(app, ["cycle", "--universe", "nasdaq100-pit", *ARGS, "--no-store"])
    assert r.exit_code == 2 and "needs --source archive" in r.output, r.output
    with pytest.raises(ConfigError, match="needs --source archive"):
        pit_by_cycle(NasdaqUniverse(sample_dir), "synthetic", 2, 252, "2017-07-24", None)
    pits = pit_by_cycle(NasdaqUniverse(sample_dir), "archive", 2, 252, "2017-07-24", None)
    with pytest.raises(ConfigError, match="needs --source archive"):
        run_cycles(runner.RunRequest(seed=1, start="2017-07-24"), Settings(), ["AAPL"], cycles=2, period_bars=252, select=1, pit=pits)
