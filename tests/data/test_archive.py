"""Archive reading: strict refusal of bad files (file + line + field), layouts, alignment, cache."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptrade.data.archive import available_symbols, load_archive, read_symbol_file
from adaptrade.data.bars import Bars
from adaptrade.data.cache import ArchiveCache
from adaptrade.errors import DataError, UnknownSymbolError

HEADER = "date,open,high,low,close,volume,adj_close"
# ten consecutive NYSE sessions (2024-01-15 is Martin Luther King Day)
SESSIONS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08",
            "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12", "2024-01-16"]


def good_lines(n: int = 10, base: float = 100.0) -> list[str]:
    """n well-formed data lines on consecutive NYSE sessions."""
    out = []
    for i, d in enumerate(SESSIONS[:n]):
        c = base + i
        out.append(f"{d},{c - 0.5:.2f},{c + 1:.2f},{c - 1:.2f},{c:.2f},{1000 + i},{c * 0.9:.4f}")
    return out


def write(path: Path, lines: list[str], header: str = HEADER) -> Path:
    """Write header + lines as plain CSV or gzip by suffix."""
    text = "\n".join([header, *lines]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def with_line(lines: list[str], line_no: int, text: str) -> list[str]:
    """Replace file line `line_no` (1-based, header = line 1) by `text`."""
    out = list(lines)
    out[line_no - 2] = text
    return out


def refused(path: Path) -> DataError:
    with pytest.raises(DataError) as info:
        read_symbol_file(path)
    return info.value


BAD_CASES = {
    # name: (lines transform, expected line, expected field, message fragment)
    "text_in_number": (lambda ls: with_line(ls, 5, "2024-01-05,101.5,abc,100,102,1003,91.8"), 5, "high", "not a number"),
    "dollar_number": (lambda ls: with_line(ls, 3, "2024-01-03,$100,102,99,101,1001,90.9"), 3, "open", "$100"),
    "zero_price": (lambda ls: with_line(ls, 4, "2024-01-04,101.5,103,101,0,1002,91.8"), 4, "close", "non-positive"),
    "negative_price": (lambda ls: with_line(ls, 6, "2024-01-08,-1,105,103,104,1004,93.6"), 6, "open", "non-positive"),
    "high_below_low": (lambda ls: with_line(ls, 7, "2024-01-09,104.5,103,106,104,1005,93.6"), 7, "high", "< low"),
    "high_below_close": (lambda ls: with_line(ls, 8, "2024-01-10,105.5,105.9,105,106,1006,95.4"), 8, "high", "max(open, close)"),
    "low_above_open": (lambda ls: with_line(ls, 9, "2024-01-11,106.5,108,106.9,107,1007,96.3"), 9, "low", "min(open, close)"),
    "duplicate_date": (lambda ls: with_line(ls, 4, ls[0].replace("2024-01-02", "2024-01-03")), 4, "date", "duplicate"),
    "unordered_date": (lambda ls: with_line(ls, 6, ls[4].replace("2024-01-08", "2024-01-04")), 6, "date", "before"),
    "bad_date": (lambda ls: with_line(ls, 3, ls[1].replace("2024-01-03", "2024-13-03")), 3, "date", "bad date"),
    "slash_date": (lambda ls: with_line(ls, 2, ls[0].replace("2024-01-02", "2024/01/02")), 2, "date", "bad date"),
    "missing_field": (lambda ls: with_line(ls, 5, "2024-01-05,101.5,103,101,102,1003"), 5, None, "fields"),
    "partial_nan": (lambda ls: with_line(ls, 4, "2024-01-04,101.5,103,,102,1002,91.8"), 4, "low", "empty low"),
    "negative_volume": (lambda ls: with_line(ls, 3, "2024-01-03,100.5,102,100,101,-5,90.9"), 3, "volume", "negative"),
    "empty_volume": (lambda ls: with_line(ls, 3, "2024-01-03,100.5,102,100,101,,90.9"), 3, "volume", "volume"),
    "bad_adj_close": (lambda ls: with_line(ls, 10, "2024-01-12,107.5,109,107,108,1008,0"), 10, "adj_close", "adj_close"),
    "infinite_price": (lambda ls: with_line(ls, 5, "2024-01-05,101.5,inf,101,102,1003,91.8"), 5, "high", "not finite"),
    "blank_line": (lambda ls: ls[:3] + [""] + ls[3:], 5, "date", "empty line"),
    "empty_date": (lambda ls: with_line(ls, 7, "," + ls[5].split(",", 1)[1]), 7, "date", "missing date"),
}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_file_names_file_line_and_field(tmp_path: Path, case: str, suffix: str) -> None:
    transform, line, field, fragment = BAD_CASES[case]
    path = write(tmp_path / f"BAD{suffix}", transform(good_lines()))
    err = refused(path)
    assert err.file == str(path) and err.row == line and err.field == field, err.describe()
    assert fragment in err.message
    text = str(err)
    assert str(path) in text and f"line {line}" in text
    if field:
        assert f"field '{field}'" in text


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_missing_column(tmp_path: Path, suffix: str) -> None:
    no_low = [",".join(p for j, p in enumerate(ln.split(",")) if j != 3) for ln in good_lines()]
    path = write(tmp_path / f"X{suffix}", no_low, header="date,open,high,close,volume,adj_close")
    err = refused(path)
    assert (err.row, err.field) == (1, "low") and "missing column 'low'" in err.message


@pytest.mark.parametrize("content,line,fragment", [(b"", 1, "empty file"), (HEADER.encode() + b"\n", 2, "no data rows")])
def test_empty_files(tmp_path: Path, content: bytes, line: int, fragment: str) -> None:
    plain = tmp_path / "E.csv"
    plain.write_bytes(content)
    packed = tmp_path / "E.csv.gz"
    packed.write_bytes(gzip.compress(content))
    for path in (plain, packed):
        err = refused(path)
        assert err.file == str(path) and err.row == line and fragment in err.message


def test_corrupt_gzip_names_file_and_line(tmp_path: Path) -> None:
    lines = good_lines()
    blob = gzip.compress(("\n".join([HEADER, *(lines * 300)]) + "\n").encode())
    truncated = tmp_path / "TRUNC.csv.gz"
    truncated.write_bytes(blob[: len(blob) // 2])
    err = refused(truncated)
    assert err.file == str(truncated) and isinstance(err.row, int) and err.row > 1
    assert "corrupt" in err.message
    not_gzip = tmp_path / "PLAIN.csv.gz"
    not_gzip.write_text("\n".join([HEADER, *lines]))
    err = refused(not_gzip)
    assert err.file == str(not_gzip) and err.row == 1 and "corrupt" in err.message


def test_parquet_bad_value_names_row(tmp_path: Path) -> None:
    frame = pd.read_csv(write(tmp_path / "G.csv", good_lines()), dtype=str)
    frame.loc[3, "close"] = "n/a?"
    path = tmp_path / "P.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    err = refused(path)
    assert err.file == str(path) and err.row == "4" and err.field == "close"
    assert "row 4" in str(err)
    corrupt = tmp_path / "C.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    assert refused(corrupt).file == str(corrupt)


def test_same_frame_from_csv_gz_and_parquet(tmp_path: Path) -> None:
    lines = good_lines()
    plain = read_symbol_file(write(tmp_path / "A.csv", lines + [""]))  # a trailing blank line is harmless
    packed = read_symbol_file(write(tmp_path / "A.csv.gz", lines))
    frame = pd.read_csv(tmp_path / "A.csv", parse_dates=["date"])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "A.parquet")
    par = read_symbol_file(tmp_path / "A.parquet")
    pd.testing.assert_frame_equal(plain, packed)
    pd.testing.assert_frame_equal(plain, par)
    assert list(plain.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
    assert plain.index.name == "date" and len(plain) == 10 and plain["close"].iloc[-1] == 109.0


def test_nan_rows_and_placeholders_are_not_hard_errors(tmp_path: Path) -> None:
    lines = with_line(good_lines(), 4, "2024-01-04,,,,,,")
    lines = with_line(lines, 2, "2024-01-02,0,0,0,0,0,0")  # Yahoo's pre-listing placeholder
    lines = with_line(lines, 6, "2024-01-08,NaN,NaN,NaN,NaN,0,NaN")
    frame = read_symbol_file(write(tmp_path / "N.csv", lines))
    assert frame["close"].isna().sum() == 3 and len(frame) == 10


def test_available_symbols_flat_and_shared_layout(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    write(flat / "AAA.csv", good_lines())
    write(flat / "BBB.csv.gz", good_lines())
    write(flat / "BBB.csv", good_lines())  # .csv.gz takes precedence over .csv
    write(flat / "SPY.csv", good_lines())  # benchmarks are not tradable symbols
    (flat / "notes.txt").write_text("x")
    assert available_symbols(flat) == {"AAA": flat / "AAA.csv", "BBB": flat / "BBB.csv.gz"}
    root = tmp_path / "root"
    (root / "ohlcv" / "daily").mkdir(parents=True)
    (root / "ohlcv" / "daily_extended").mkdir()
    write(root / "ohlcv" / "daily" / "CCC.csv.gz", good_lines())
    write(root / "ohlcv" / "daily_extended" / "CCC.csv.gz", good_lines())
    write(root / "ohlcv" / "daily_extended" / "DDD.csv.gz", good_lines())
    assert available_symbols(root) == {"CCC": root / "ohlcv" / "daily" / "CCC.csv.gz",
                                       "DDD": root / "ohlcv" / "daily_extended" / "DDD.csv.gz"}
    with pytest.raises(DataError, match="does not exist"):
        available_symbols(tmp_path / "nope")


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "arch"
    folder.mkdir()
    write(folder / "AAA.csv", good_lines(10, 100.0))
    write(folder / "BBB.csv.gz", good_lines(10, 50.0)[3:8])
    write(folder / "CCC.csv", [ln.rsplit(",", 1)[0] for ln in good_lines(6, 20.0)], header=HEADER.rsplit(",", 1)[0])
    return folder


def test_load_archive_order_alignment_and_window(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    bars, report = load_archive(folder, ["BBB", "AAA"])
    assert bars.symbols == ("BBB", "AAA") and bars.n_bars == 10 and bars.adj_close is not None
    assert bars.valid[0].sum() == 5 and bars.valid[1].all()
    assert np.isnan(bars.close[0, :3]).all() and bars.close[0, 3] == 53.0
    assert [q.symbol for q in report.symbols] == ["BBB", "AAA"] and report.totals["rows"] == 15
    expected = Bars.from_frames({s: read_symbol_file(folder / f) for s, f in (("BBB", "BBB.csv.gz"), ("AAA", "AAA.csv"))})
    for name in ("open", "high", "low", "close", "volume", "valid", "adj_close", "dates"):
        np.testing.assert_array_equal(getattr(bars, name), getattr(expected, name))
    every, _ = load_archive(folder)
    assert every.symbols == ("AAA", "BBB", "CCC") and every.adj_close is None  # CCC has no adj_close
    window, rep = load_archive(folder, ["AAA"], start="2024-01-05", end="2024-01-11")
    assert str(window.dates[0]) == "2024-01-05" and str(window.dates[-1]) == "2024-01-11" and rep.totals["rows"] == 5


def test_unknown_symbols_named_together(tmp_path: Path) -> None:
    with pytest.raises(UnknownSymbolError) as info:
        load_archive(_folder(tmp_path), ["AAA", "ZZZ", "YYY"])
    assert "ZZZ" in str(info.value) and "YYY" in str(info.value) and "AAA" not in info.value.message.split("in")[0]


def test_one_bad_file_fails_the_whole_load(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    write(folder / "DDD.csv", with_line(good_lines(), 7, "2024-01-09,x,1,1,1,1,1"))
    with pytest.raises(DataError) as info:
        load_archive(folder, cache_dir=tmp_path / "cache")
    assert info.value.file == str(folder / "DDD.csv") and info.value.row == 7 and info.value.field == "open"


def _same(a: Bars, b: Bars) -> None:
    assert a.symbols == b.symbols
    for name in ("dates", "open", "high", "low", "close", "volume", "valid", "adj_close"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_cache_hit_equals_first_load_and_skips_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, cache = _folder(tmp_path), tmp_path / "cache"
    first, rep1 = load_archive(folder, cache_dir=cache)
    entries = sorted((cache / "archive").rglob("*.parquet"))
    assert len(entries) == 3 and not list(cache.rglob("*.tmp"))
    import adaptrade.data.archive as archive

    def boom(path: Path) -> None:
        raise AssertionError(f"source re-read: {path}")

    monkeypatch.setattr(archive, "read_columns", boom)
    second, rep2 = load_archive(folder, cache_dir=cache)
    _same(first, second)
    assert rep1 == rep2


def test_touched_or_modified_source_invalidates(tmp_path: Path) -> None:
    folder, cache = _folder(tmp_path), tmp_path / "cache"
    load_archive(folder, ["AAA"], cache_dir=cache)
    source = folder / "AAA.csv"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched only: re-read, same data
    store = ArchiveCache(cache)
    assert store.get(source) is None
    bars, _ = load_archive(folder, ["AAA"], cache_dir=cache)
    assert len(list((cache / "archive").rglob("AAA.csv.*.parquet"))) == 1  # stale entry replaced
    write(source, good_lines(10, 200.0))  # modified content: new values
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000))
    changed, _ = load_archive(folder, ["AAA"], cache_dir=cache)
    assert changed.close[0, 0] == 200.0 and bars.close[0, 0] == 100.0


def test_corrupt_cache_entry_is_a_miss(tmp_path: Path) -> None:
    folder, cache = _folder(tmp_path), tmp_path / "cache"
    first, _ = load_archive(folder, cache_dir=cache)
    for entry in (cache / "archive").rglob("*.parquet"):
        entry.write_bytes(b"garbage")
    again, _ = load_archive(folder, cache_dir=cache)
    _same(first, again)


def test_sample_loads_clean(sample_dir: Path, tmp_path: Path) -> None:
    bars, report = load_archive(sample_dir, cache_dir=tmp_path)
    assert bars.n_symbols == 10 and bars.n_bars == 2518 and bars.valid.all() and bars.adj_close is not None
    assert str(bars.dates[0]) == "2014-03-10" and str(bars.dates[-1]) == "2024-03-08"
    assert report.totals["rows"] == 25180 and all(q.defects == 0 for q in report.symbols)
    assert "SPY" not in bars.symbols and "GSPC" not in bars.symbols


def test_shared_data_all_500(shared_data_dir: Path, tmp_path: Path) -> None:
    cold, report = load_archive(shared_data_dir, cache_dir=tmp_path)
    assert cold.n_symbols == 500 and report.totals["rows"] == 906_530 + 1_670_942
    t = report.totals  # the quirks the shared README lists (PRTA's 3 all-zero rows are NaN rows here)
    assert (t["missing_sessions"], t["zero_volume"], t["nan_rows"], t["jumps"]) == (0, 9901, 3, 37)
    assert report["PRTA"].nan_rows == 3 and report["AAPL"].defects == 0
    warm, report2 = load_archive(shared_data_dir, cache_dir=tmp_path)
    _same(cold, warm)
    assert report2 == report
    aapl = read_symbol_file(shared_data_dir / "ohlcv" / "daily" / "AAPL.csv.gz")
    i = cold.index_of("AAPL")
    np.testing.assert_array_equal(cold.close[i, cold.valid[i]], aapl["close"].to_numpy())
