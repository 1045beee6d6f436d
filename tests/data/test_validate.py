"""Recoverable defects under each repair policy, with their counts in the quality report."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from adaptrade.data.archive import load_archive
from adaptrade.data.validate import QualityReport, SymbolQuality, nyse_sessions
from adaptrade.errors import ConfigError, DataError

HEADER = "date,open,high,low,close,volume,adj_close"
SESSIONS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08",
            "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12", "2024-01-16"]


def line(d: str, c: float, v: int = 1000) -> str:
    return f"{d},{c},{c + 1},{c - 1},{c},{v},{c / 2}"


def folder_with(tmp_path: Path, lines: list[str], name: str = "XYZ") -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.csv").write_text("\n".join([HEADER, *lines]) + "\n")
    return folder


def clean() -> list[str]:
    return [line(d, 100.0 + i) for i, d in enumerate(SESSIONS)]


def load(folder: Path, policy: str, **kw: object):  # -> (Bars, QualityReport)
    return load_archive(folder, policy=policy, **kw)  # type: ignore[arg-type]


def test_missing_session(tmp_path: Path) -> None:
    lines = clean()
    del lines[3]  # 2024-01-05 (line 5 of the complete file) is a NYSE session
    folder = folder_with(tmp_path, lines)
    with pytest.raises(DataError) as info:
        load(folder, "error")
    err = info.value
    assert err.file == str(folder / "XYZ.csv") and err.field == "date" and err.row == 5 and "2024-01-05" in err.message
    bars, rep = load(folder, "drop")
    assert (rep["XYZ"].missing_sessions, rep["XYZ"].repaired) == (1, 0) and bars.n_bars == 9
    bars, rep = load(folder, "ffill")
    q = rep["XYZ"]
    assert (q.missing_sessions, q.repaired, q.rows) == (1, 1, 9) and bars.n_bars == 10
    i = list(bars.dates.astype(str)).index("2024-01-05")
    assert bars.valid[0, i] and bars.volume[0, i] == 0
    assert bars.open[0, i] == bars.high[0, i] == bars.low[0, i] == bars.close[0, i] == bars.close[0, i - 1] == 102.0
    assert bars.adj_close is not None and bars.adj_close[0, i] == bars.adj_close[0, i - 1]


def test_sept_11_closure_and_holidays_are_not_missing(tmp_path: Path) -> None:
    days = ["2001-09-06", "2001-09-07", "2001-09-10", "2001-09-17", "2001-09-18"]
    lines = [line(d, 20.0) for d in days] + [line("2024-01-12", 20.0), line("2024-01-16", 20.0)]
    folder = folder_with(tmp_path, lines[:5])
    _, rep = load(folder, "error")
    assert rep["XYZ"].missing_sessions == 0
    folder_with(tmp_path, lines[5:])  # MLK day 2024-01-15 between
    _, rep = load(folder, "error")
    assert rep["XYZ"].missing_sessions == 0


def test_zero_volume(tmp_path: Path) -> None:
    lines = clean()
    lines[5] = line(SESSIONS[5], 105.0, v=0)  # file line 7
    folder = folder_with(tmp_path, lines)
    with pytest.raises(DataError) as info:
        load(folder, "error")
    assert (info.value.row, info.value.field) == (7, "volume") and "2024-01-09" in info.value.message
    bars, rep = load(folder, "drop")
    assert (rep["XYZ"].zero_volume, rep["XYZ"].repaired) == (1, 1)
    assert "2024-01-09" not in bars.dates.astype(str) and bars.n_bars == 9  # the only symbol: the date is gone
    (folder / "OTHER.csv").write_text("\n".join([HEADER, *clean()]) + "\n")
    bars, _ = load(folder, "drop")
    i = bars.index_of("XYZ")
    assert not bars.valid[i, 5] and np.isnan(bars.close[i, 5]) and bars.valid[i].sum() == 9
    bars, rep = load(folder, "ffill")
    assert (rep["XYZ"].zero_volume, rep["XYZ"].repaired) == (1, 0)
    assert bars.valid[i].all() and bars.close[i, 5] == 105.0 and bars.volume[i, 5] == 0


def test_nan_rows(tmp_path: Path) -> None:
    lines = clean()
    lines[0] = f"{SESSIONS[0]},,,,,,"  # leading NaN row: nothing to carry forward
    lines[4] = f"{SESSIONS[4]},NaN,NaN,NaN,NaN,,NaN"  # line 6
    lines[5] = f"{SESSIONS[5]},,,,,0,"  # line 7
    folder = folder_with(tmp_path, lines)
    with pytest.raises(DataError) as info:
        load(folder, "error")
    assert (info.value.row, info.value.field) == (2, "close") and "NaN row" in info.value.message
    bars, rep = load(folder, "drop")
    assert (rep["XYZ"].nan_rows, rep["XYZ"].repaired) == (3, 3) and bars.valid[0].sum() == 7
    bars, rep = load(folder, "ffill")
    assert (rep["XYZ"].nan_rows, rep["XYZ"].repaired) == (3, 3)
    assert bars.n_bars == 9 and str(bars.dates[0]) == "2024-01-03" and bars.valid[0].all()
    np.testing.assert_array_equal(bars.close[0, 2:6], [103.0, 103.0, 103.0, 106.0])
    np.testing.assert_array_equal(bars.volume[0, 3:5], [0.0, 0.0])


def test_split_like_jumps_are_counted_not_dropped(tmp_path: Path) -> None:
    lines = clean()
    lines[6] = line(SESSIONS[6], 106.0 * 4)  # up 4x on line 8
    lines[7] = line(SESSIONS[7], 107.0)  # and back down
    folder = folder_with(tmp_path, lines)
    with pytest.raises(DataError) as info:
        load(folder, "error")
    assert (info.value.row, info.value.field) == (8, "close") and "jump" in info.value.message
    for policy in ("drop", "ffill"):
        bars, rep = load(folder, policy)
        assert (rep["XYZ"].jumps, rep["XYZ"].repaired) == (2, 0) and bars.valid[0].all() and bars.close[0, 6] == 424.0
    _, rep = load(folder, "drop", jump_threshold=5.0)
    assert rep["XYZ"].jumps == 0


def test_counts_are_policy_independent_and_totals_add_up(tmp_path: Path) -> None:
    lines = clean()
    lines[2] = line(SESSIONS[2], 102.0, v=0)
    lines[5] = f"{SESSIONS[5]},,,,,,"
    del lines[8]
    folder = folder_with(tmp_path, lines, "AAA")
    (folder / "BBB.csv").write_text("\n".join([HEADER, *clean()]) + "\n")
    reports = {p: load(folder, p)[1] for p in ("drop", "ffill")}
    for rep in reports.values():
        q = rep["AAA"]
        assert (q.missing_sessions, q.zero_volume, q.nan_rows, q.jumps) == (1, 1, 1, 0)
        assert rep.totals["symbols"] == 2 and rep.totals["symbols_with_defects"] == 1 and rep.totals["rows"] == 19
    assert reports["drop"]["AAA"].repaired == 2 and reports["ffill"]["AAA"].repaired == 2  # ffill: NaN row + session


def test_report_frame_and_render(tmp_path: Path) -> None:
    lines = clean()
    lines[2] = line(SESSIONS[2], 102.0, v=0)
    _, rep = load(folder_with(tmp_path, lines), "drop")
    frame = rep.to_frame()
    assert list(frame.columns) == ["symbol", "file", "rows", "first_date", "last_date", "missing_sessions",
                                   "zero_volume", "nan_rows", "jumps", "repaired"]
    assert frame.loc[0, "zero_volume"] == 1 and frame.loc[0, "first_date"] == "2024-01-02"
    out = io.StringIO()
    rep.render(Console(file=out, width=120))
    text = out.getvalue()
    assert "XYZ" in text and "TOTAL" in text and "policy 'drop'" in text
    empty = QualityReport("drop", 3.0, (SymbolQuality("A", "a.csv", 0, None, None),))
    assert empty.totals["rows"] == 0


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, clean())
    with pytest.raises(ConfigError, match="policy"):
        load(folder, "fix")
    with pytest.raises(ConfigError, match="jump threshold"):
        load(folder, "drop", jump_threshold=1.0)
    with pytest.raises(ConfigError, match="start"):
        load(folder, "drop", start="yesterday")


def test_sessions_cached_on_disk(tmp_path: Path) -> None:
    first = nyse_sessions(np.datetime64("2001-09-01"), np.datetime64("2001-09-30"), tmp_path)
    assert list((tmp_path / "calendar").glob("XNYS-*.npy"))
    again = nyse_sessions(np.datetime64("2001-09-01"), np.datetime64("2001-09-30"), tmp_path)
    np.testing.assert_array_equal(first, again)
    assert np.datetime64("2001-09-11") not in set(first) and np.datetime64("2001-09-10") in set(first)
