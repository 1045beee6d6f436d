"""The point-in-time NASDAQ-100 (`nasdaq100-pit`): members on a date from the shipped membership history."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from adaptrade.data.sample import SAMPLE_SYMBOLS
from adaptrade.errors import ConfigError
from adaptrade.universe.universe import NasdaqUniverse, PointInTime


@pytest.fixture(scope="module")
def shipped() -> NasdaqUniverse:
    return NasdaqUniverse(None)  # no data root: the membership copy shipped in the package


def test_shipped_copy_is_the_shared_table(shipped: NasdaqUniverse) -> None:
    m = shipped.membership()
    assert len(m) == 262 and m["symbol"].is_unique
    assert m["removed_date"].isna().sum() == 101 and m["added_date"].isna().sum() == 91


def test_later_joiner_is_not_a_member_before_its_added_date(shipped: NasdaqUniverse) -> None:
    # PYPL: added_date 2015-11-11 (its price file would exist before, from the 2015-07 listing).
    assert "PYPL" not in shipped.members_at("2015-11-10")
    assert "PYPL" in shipped.members_at("2015-11-11") and "PYPL" in shipped.members_at("2020-01-02")
    assert "TMUS" not in shipped.members_at("2015-01-02") and "TMUS" in shipped.members_at("2016-01-04")  # 2015-12-21


def test_removed_member_until_removal_only(shipped: NasdaqUniverse) -> None:
    # YHOO: member before the table starts, removed 2017-06-19; AAL: 2014-12-22 .. 2020-04-20.
    assert "YHOO" in shipped.members_at("2007-02-01") and "YHOO" in shipped.members_at("2017-06-16")
    assert "YHOO" not in shipped.members_at("2017-06-19") and "YHOO" not in shipped.members_at("2020-01-02")
    assert "AAL" not in shipped.members_at("2014-12-19")
    assert "AAL" in shipped.members_at("2014-12-22") and "AAL" in shipped.members_at("2020-04-17")
    assert "AAL" not in shipped.members_at("2020-04-20")


def test_multi_stint_rule(shipped: NasdaqUniverse) -> None:
    # SIRI: added_date 2011-07-15 > removed_date 2008-12-22 -> member before 2008-12-22, out in between,
    # member again from 2011-07-15 (its later removal is not in the table).
    assert "SIRI" in shipped.members_at("2008-12-19")
    assert "SIRI" not in shipped.members_at("2008-12-22") and "SIRI" not in shipped.members_at("2011-07-14")
    assert "SIRI" in shipped.members_at("2011-07-15") and "SIRI" in shipped.members_at("2020-01-02")
    m = shipped.membership()
    two = m[m["added_date"] > m["removed_date"]]["symbol"].tolist()
    assert two == ["AKAM", "DISCA", "DISH", "EXPE", "LBTYA", "NTAP", "SIRI", "SNDK", "VRSN", "WFMI", "WYNN", "XRAY"]
    # NTAP: removed 2016-12-19, back 2018-12-24
    assert "NTAP" in shipped.members_at(pd.Timestamp("2012-01-03")) and "NTAP" not in shipped.members_at("2017-06-01")
    assert "NTAP" in shipped.members_at("2018-12-24")
    assert shipped.point_in_time("2017-06-01").second_stint == ["AKAM", "DISCA", "DISH", "EXPE", "LBTYA", "SIRI", "SNDK", "WFMI", "WYNN", "XRAY"]


def test_dates_before_the_table_are_refused(shipped: NasdaqUniverse) -> None:
    with pytest.raises(ConfigError, match="starts on 2007-02-01"):
        shipped.members_at("2007-01-31")
    with pytest.raises(ConfigError, match="not a date"):
        shipped.members_at("2010-13-45")
    with pytest.raises(ConfigError, match="needs an as-of date"):
        shipped.select("nasdaq100-pit")
    assert len(shipped.members_at("2007-02-01")) == 103  # ~100 companies; a few have two share classes


def test_point_in_time_reports_members_without_data(sample_dir: Path) -> None:
    u = NasdaqUniverse(sample_dir)
    p = u.point_in_time("2015-01-02")
    assert isinstance(p, PointInTime) and len(p.members) == 106
    have = sorted(s for s in SAMPLE_SYMBOLS if s != "PEP")  # PEP: added 2018-07-23
    assert p.with_data == have and len(p.without_data) == 106 - len(have)
    assert "PYPL" not in p.members and "YHOO" in p.without_data
    assert any("106 members, 9 run, 97 without a price file" in n for n in p.notes())
    assert u.select("nasdaq100-pit", with_data=True, as_of="2015-01-02") == have
    # the sample starts 2014-03-10: on 2010-01-04 its files start later, so no member can be run from there
    assert u.point_in_time("2010-01-04").late_data == sorted(s for s in SAMPLE_SYMBOLS if s != "PEP")
    with pytest.raises(ConfigError, match="no NASDAQ-100 member on 2010-01-04 can be run"):
        u.select("nasdaq100-pit", with_data=True, as_of="2010-01-04")


def test_shared_data_2010(shared_data_dir: Path) -> None:
    p = NasdaqUniverse(shared_data_dir).point_in_time("2010-01-04")
    assert (len(p.members), len(p.with_data), len(p.without_data)) == (103, 62, 40)
    assert p.late_data == ["META"]  # empty added_date in the table (FB joined later under another ticker); file from 2012
    assert {"ALTR", "DELL", "LIFE"} <= set(p.without_data)  # reused tickers: a file would be another company


def test_cli_backtest_runs_the_members_on_start(sample_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from adaptrade.cli import app

    base = ["backtest", "--source", "archive", "--data-dir", str(sample_dir), "--universe", "nasdaq100-pit", "--no-store"]
    r = CliRunner().invoke(app, base + ["--start", "2015-01-02", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    stocks = pd.read_csv(tmp_path / "o" / "stocks.csv")["symbol"].tolist()
    assert sorted(stocks) == sorted(s for s in SAMPLE_SYMBOLS if s != "PEP")
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    notes = json.dumps(doc)
    assert "106 members, 9 run, 97 without a price file" in notes and "later joiners are excluded" in notes
    r = CliRunner().invoke(app, base)
    assert r.exit_code != 0 and "needs --start" in r.output
    r = CliRunner().invoke(app, base + ["--start", "2006-06-01"])
    assert r.exit_code != 0 and "starts on 2007-02-01" in r.output


def test_cli_universe_list(sample_dir: Path) -> None:
    from typer.testing import CliRunner

    from adaptrade.cli import app

    r = CliRunner().invoke(app, ["universe", "list", "--universe", "nasdaq100-pit", "--data-dir", str(sample_dir),
                                 "--start", "2015-01-02"])
    assert r.exit_code == 0, r.output
    assert "nasdaq100-pit: 9 symbols" in r.output  # a table since issue 11
    listed = [ln.split("│")[1].strip() for ln in r.output.splitlines() if ln.startswith("│")]
    assert listed == ["AAPL", "AMZN", "COST", "CSCO", "GOOGL", "INTC", "META", "MSFT", "NVDA"]
    r = CliRunner().invoke(app, ["universe", "list", "--universe", "nasdaq100-pit"])
    assert r.exit_code != 0 and "needs --start" in r.output
