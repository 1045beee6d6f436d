"""Bad input gets one line naming the cause and exit 2 before any work, with nothing written (issue 11, section 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import cli, one_line_error, sample_lines

FAST = ("--no-store", "--stocks", "2", "--bars", "300")


@pytest.mark.parametrize("where", ["/proc/nope", "FILE/sub"])
def test_unwritable_out_is_refused_before_the_run(tmp_path: Path, where: str) -> None:
    (tmp_path / "FILE").write_text("x")
    out = where.replace("FILE", str(tmp_path / "FILE"))
    r = cli("backtest", *FAST, "--out", out, cwd=tmp_path)
    one_line_error(r, "--out", out)
    assert "ranked by Sharpe" not in r.stdout  # refused before the backtest ran


def test_unwritable_out_is_refused_by_every_writer(tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("x")
    for cmd in (["sweep", "--trials", "2"], ["experiment", "walkforward"], ["experiment", "phase7"], ["cycle"]):
        one_line_error(cli(*cmd, "--out", str(tmp_path / "FILE" / "o"), cwd=tmp_path), "is a file, not a folder")


def test_huge_synthetic_universe_is_refused_with_the_estimate_and_the_limit(tmp_path: Path) -> None:
    # streamed, 100,000 stocks need ~1.05 GB: refused under a 0.8 GB limit before any data is made
    line = one_line_error(cli("backtest", "--no-store", "--stocks", "100000", cwd=tmp_path,
                              env={"ADAPTRADE_MEMORY_LIMIT_GB": "0.8"}), "100,000 stocks", "GB")
    assert "needs an estimated" in line and "limit of" in line
    # the limit is a setting: a tiny one refuses a small run too, and says so
    one_line_error(cli("backtest", *FAST, cwd=tmp_path, env={"ADAPTRADE_MEMORY_LIMIT_GB": "0.01"}), "limit of 0.0 GB")


def test_estimate_memory_is_the_one_place() -> None:
    from adaptrade.parallel.runner import estimate_memory_bytes

    assert estimate_memory_bytes(2000, 2520) > estimate_memory_bytes(1000, 2520) > estimate_memory_bytes(1, 1) > 0


def test_empty_folder_is_no_data_for_check_and_backtest(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(cli("data", "check", str(empty), cwd=tmp_path), "no data files")
    one_line_error(cli("backtest", "--source", "archive", "--data-dir", str(empty), "--no-store", cwd=tmp_path), "no data files")


def test_window_shorter_than_the_warm_up_is_refused(tmp_path: Path) -> None:
    r = cli("backtest", "--source", "archive", "--symbols", "AAPL", "--start", "2024-03-07", "--no-store", cwd=tmp_path)
    line = one_line_error(r, "2 bars", "at least 16 bars")
    assert "beat" not in r.stdout and "RSI(14)" in line


def test_data_dir_env_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    r = cli("backtest", "--source", "archive", "--no-store", cwd=tmp_path, env={"ADAPTRADE_DATA_DIR": "/nowhere"})
    one_line_error(r, "/nowhere", "does not exist")
    one_line_error(cli("backtest", "--source", "archive", "--no-store", "--data-dir", "/nowhere", cwd=tmp_path), "/nowhere")


def test_default_data_root_and_cache_do_not_depend_on_the_cwd(tmp_path: Path) -> None:
    from adaptrade.settings import Settings

    s = Settings()
    repo = Path(__file__).resolve().parents[2]
    assert s.data_dir == repo.parent / "shared" / "data" and s.cache_dir == repo / ".adaptrade_cache"


def test_unknown_universe_lists_every_universe(tmp_path: Path) -> None:
    one_line_error(cli("backtest", *FAST, "--universe", "nasdaq", cwd=tmp_path), "nasdaq100", "extended", "nasdaq100-pit")


@pytest.mark.parametrize("args,needle", [
    (("--symbols", ""), "--symbols is empty"),
    (("--symbols", " , "), "--symbols is empty"),
    (("--top", "0"), "--top must be at least 1"),
    (("--top", "-1"), "--top must be at least 1"),
])
def test_empty_symbols_and_bad_top_are_errors(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    one_line_error(cli("backtest", *FAST, *args, cwd=tmp_path), needle)


@pytest.mark.parametrize("flag", ["--bars", "--seed"])
def test_synthetic_flags_with_archive_data_are_errors(tmp_path: Path, flag: str) -> None:
    r = cli("backtest", "--source", "archive", "--symbols", "AAPL", flag, "100", "--no-store", cwd=tmp_path)
    one_line_error(r, flag, "synthetic data only")


def test_benchmark_without_coverage_prints_no_beat_counts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "benchmark").mkdir(parents=True)
    (data / "AAPL.csv").write_text("\n".join(sample_lines("AAPL")[:300]) + "\n")
    spy = sample_lines("SPY")
    (data / "benchmark" / "SPY.csv").write_text("\n".join([spy[0], *spy[-100:]]) + "\n")  # dates after the stock's
    r = cli("backtest", "--source", "archive", "--data-dir", str(data), "--no-store", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    beat = [ln for ln in r.stdout.splitlines() if ln.startswith("beat SPY")]
    assert len(beat) == 1 and "no benchmark coverage" in beat[0] and "/1" not in beat[0], beat
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["settings"]["benchmark_coverage"] == 0.0 and doc["aggregate"]["beat_benchmark"] is None
    page = (tmp_path / "o" / "report.html").read_text()
    assert "No benchmark coverage" in page and "vs SPY (1.0" not in page


def test_benchmark_found_in_the_data_root_when_data_dir_is_its_stock_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "ohlcv" / "daily").mkdir(parents=True)
    (root / "benchmark").mkdir()
    (root / "ohlcv" / "daily" / "AAPL.csv").write_text("\n".join(sample_lines("AAPL")) + "\n")
    (root / "benchmark" / "SPY.csv").write_text("\n".join(sample_lines("SPY")) + "\n")
    r = cli("backtest", "--source", "archive", "--data-dir", str(root / "ohlcv" / "daily"), "--no-store", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert str(root / "benchmark" / "SPY.csv") in r.stdout.replace("\n", "") and "WARNING" not in r.stdout


def test_sweep_where_every_trial_fails_names_the_errors_and_writes_the_trials(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    r = cli("sweep", "--method", "grid", "--params", "buy=75,80", "--stocks", "2", "--bars", "300", "--no-store",
            "--out", str(out), cwd=tmp_path)
    one_line_error(r, "every one of 2 trials failed", "buy threshold must be in")
    import pandas as pd

    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and trials["error"].notna().all() and not trials["ok"].any()


def test_sweep_without_flags_says_which_flag_is_needed(tmp_path: Path) -> None:
    one_line_error(cli("sweep", "--no-store", cwd=tmp_path), "--trials")


def test_killed_runs_temp_folders_are_cleaned_on_the_next_run(tmp_path: Path) -> None:
    stale = [tmp_path / ".o.999999999.abcd", tmp_path / ".o.k3j2h1g0"]  # a dead writer's, and one without a pid
    for d in stale:
        d.mkdir()
        (d / "stocks.csv").write_text("half")
    other = tmp_path / ".other.999999999.x"
    other.mkdir()
    r = cli("backtest", *FAST, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not any(d.exists() for d in stale) and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".o.")) == []


def test_yahoo_style_header_is_read(tmp_path: Path) -> None:
    lines = sample_lines("AAPL")
    names = {"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close", "adj_close": "Adj Close", "volume": "Volume"}
    header = ",".join(names[h] for h in lines[0].split(","))
    yahoo = tmp_path / "yahoo"
    yahoo.mkdir()
    (yahoo / "AAPL.csv").write_text("\n".join([header, *lines[1:]]) + "\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "AAPL.csv").write_text("\n".join(lines) + "\n")
    r = cli("data", "check", str(yahoo), cwd=tmp_path)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    outs = []
    for d in (yahoo, plain):
        r = cli("backtest", "--source", "archive", "--data-dir", str(d), "--no-store", "--out", str(tmp_path / f"o_{d.name}"), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / f"o_{d.name}" / "stocks.csv").read_text())
    assert outs[0] == outs[1]  # same numbers whichever spelling


def test_two_columns_that_read_as_one_are_an_error(tmp_path: Path) -> None:
    lines = sample_lines("AAPL")
    d = tmp_path / "dup"
    d.mkdir()
    (d / "AAPL.csv").write_text("\n".join([lines[0] + ",Adj Close", *[ln + ",1.0" for ln in lines[1:]]]) + "\n")
    one_line_error(cli("data", "check", str(d), cwd=tmp_path), "both read as 'adj_close'")
