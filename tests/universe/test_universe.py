"""Universe selection and the no-look-ahead liquidity filter, on the real shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adaptrade.errors import ConfigError
from adaptrade.universe.liquidity import liquidity_filter, liquidity_from_bars
from adaptrade.universe.universe import NasdaqUniverse


def test_nasdaq100_and_extended(shared_data_dir: Path) -> None:
    u = NasdaqUniverse(shared_data_dir)
    n100 = u.nasdaq100()
    assert len(n100) == 101 and {"AAPL", "GOOG", "GOOGL"} <= set(n100["symbol"])
    assert (n100["sector"] != "").all() and len(u.sectors()) == 11
    ext = u.extended()
    assert ext["symbol"].is_unique and len(ext) == 500  # 187 + 313 files, the 101 members among them
    assert {"PLUG", "MARA", "AAPL", "ORCL"} <= set(ext["symbol"])  # extended.csv, a member, a past member
    assert ext.loc[ext["symbol"] == "PLUG", "source"].item() == "extended.csv"
    assert ext.loc[ext["symbol"] == "ORCL", "source"].item() == "archive"


def test_selections(shared_data_dir: Path) -> None:
    u = NasdaqUniverse(shared_data_dir)
    it = u.select("nasdaq100", sector="Information Technology")
    assert len(it) == 40 and "AAPL" in it and "AMZN" not in it
    assert u.select(sector="utilities") == u.select(sector="Utilities")  # case-insensitive
    assert u.select(symbols=["aapl", " msft", "AAPL"]) == ["AAPL", "MSFT"]
    assert u.select(symbols=["AAPL", "NOPE"], with_data=True) == ["AAPL"]
    for bad in [dict(name="dow30"), dict(sector="Crypto"), dict(symbols=["AAPL"], sector="Utilities")]:
        with pytest.raises(ConfigError):
            u.select(**bad)  # type: ignore[arg-type]


def test_shipped_list_without_data_dir() -> None:
    assert len(NasdaqUniverse(None).nasdaq100()) == 101
    assert NasdaqUniverse(None).archive_symbols() == []


def test_liquidity_uses_only_data_before_start(shared_data_dir: Path) -> None:
    # PLUG: ~132k shares/day in late 2011 (split-adjusted), tens of millions by 2020.
    early = liquidity_filter(shared_data_dir, ["AAPL", "PLUG", "ARM", "ZZZZ"], "2012-01-03")
    assert early.kept == ["AAPL"]
    row = early.table.set_index("symbol").loc["PLUG"]
    assert row["adv"] == pytest.approx(131_985.0) and row["last_date"] == "2011-12-30" and row["sessions"] == 20
    assert any(line.startswith("PLUG: ADV 131,985 < 1,000,000") for line in early.lines())
    assert early.table.set_index("symbol").loc["ARM", "reason"] == "no data before the start"
    assert early.table.set_index("symbol").loc["ZZZZ", "reason"] == "no data file"
    assert liquidity_filter(shared_data_dir, ["PLUG"], "2021-01-04").kept == ["PLUG"]


def test_liquidity_ignores_tampered_future(shared_data_dir: Path) -> None:
    from adaptrade.data.archive import load_archive

    bars, _ = load_archive(shared_data_dir, ["PLUG", "AAPL"], start="2011-06-01", end="2012-06-29")
    before = liquidity_from_bars(bars, "2012-01-03").table
    t0 = int(np.searchsorted(bars.dates, np.datetime64("2012-01-03")))
    bars.volume[:, t0:] *= 1000.0  # a look-ahead filter would now keep PLUG
    after = liquidity_from_bars(bars, "2012-01-03").table
    assert before.equals(after) and after.set_index("symbol").loc["PLUG", "kept"] == False
    assert liquidity_from_bars(bars, "2012-01-03", window=500).kept == []  # not enough history: dropped, said why


def test_liquidity_checks_arguments(shared_data_dir: Path) -> None:
    with pytest.raises(ConfigError):
        liquidity_filter(shared_data_dir, ["AAPL"], "2012-13-45")
    with pytest.raises(ConfigError):
        liquidity_filter(shared_data_dir, ["AAPL"], "2012-01-03", window=0)


def test_backtest_command_sector_and_extended(shared_data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from adaptrade.cli import app

    r = CliRunner().invoke(app, ["backtest", "--source", "archive", "--data-dir", str(shared_data_dir), "--sector", "Utilities",
                                 "--start", "2022-01-03", "--no-store", "--out", str(tmp_path / "u")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "u" / "stocks.csv").read_text().splitlines()[1:] != [] and "4 stocks" in r.output
    bad = CliRunner().invoke(app, ["backtest", "--sector", "Crypto", "--no-store"])
    assert bad.exit_code != 0


def test_dollar_volume_filter_does_not_see_later_splits(shared_data_dir: Path) -> None:
    """A later split multiplies the adjusted share volume of every earlier day and divides its price by the same
    factor: the share filter then keeps a stock it dropped (a look-ahead), the dollar filter does not move."""
    from adaptrade.data.archive import load_archive

    bars, _ = load_archive(shared_data_dir, ["PLUG", "AAPL"], start="2011-06-01", end="2011-12-30")
    shares = liquidity_from_bars(bars, "2012-01-03")
    dollars = liquidity_from_bars(bars, "2012-01-03", min_dollar_volume=5_000_000.0)
    plug = dollars.table.set_index("symbol").loc["PLUG"]
    assert plug["adv_dollars"] == pytest.approx(284_500.8, rel=1e-6) and not plug["kept"]
    assert dollars.kept == ["AAPL"] and dollars.split_caveat is None and shares.split_caveat is not None
    assert any(line.startswith("PLUG: ADV $284,501 < $5,000,000") for line in dollars.lines())
    i = bars.symbols.index("PLUG")
    bars.volume[i] *= 100.0  # as if PLUG split 100:1 after 2011: the archive would show 100x the shares
    bars.close[i] /= 100.0
    assert liquidity_from_bars(bars, "2012-01-03").kept == ["PLUG", "AAPL"]  # the share filter is fooled
    again = liquidity_from_bars(bars, "2012-01-03", min_dollar_volume=5_000_000.0)
    assert again.kept == ["AAPL"]
    assert again.table["adv_dollars"].to_numpy() == pytest.approx(dollars.table["adv_dollars"].to_numpy(), rel=1e-12)
    with pytest.raises(ConfigError):
        liquidity_from_bars(bars, "2012-01-03", min_dollar_volume=-1.0)


def test_universe_list_dollar_volume_flag(shared_data_dir: Path) -> None:
    from typer.testing import CliRunner

    from adaptrade.cli import app

    base = ["universe", "list", "--symbols", "AAPL,PLUG", "--start", "2012-01-03", "--data-dir", str(shared_data_dir)]
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0 and "min 1,000,000 shares" in r.output and "split-adjusted" in r.output, r.output
    d = CliRunner().invoke(app, base + ["--min-dollar-volume", "5000000"])
    assert d.exit_code == 0 and "dropped PLUG: ADV $284,501 < $5,000,000" in d.output and "split-adjusted" not in d.output, d.output
    both = CliRunner().invoke(app, base + ["--min-dollar-volume", "5000000", "--min-volume", "10"])
    assert both.exit_code != 0 and "not both" in both.output
