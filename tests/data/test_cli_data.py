"""`adaptrade data check`: report and exit 0 when usable, one clear line and exit 2 when not."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptrade.cli import app

HEADER = "date,open,high,low,close,volume,adj_close"
GOOD = ["2024-01-02,10,11,9,10,100,9", "2024-01-03,10,11,9,10.5,100,9.4", "2024-01-04,10,11,9,10,0,9"]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_CACHE_DIR", str(tmp_path / "cache"))


def folder(tmp_path: Path, **files: list[str]) -> Path:
    out = tmp_path / "data"
    out.mkdir(exist_ok=True)
    for name, lines in files.items():
        text = "\n".join([HEADER, *lines]) + "\n"
        if name.endswith("_gz"):
            (out / f"{name[:-3]}.csv.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (out / f"{name}.csv").write_text(text)
    return out


def run(*args: str):  # -> click.testing.Result
    return CliRunner().invoke(app, ["data", "check", *args])


def test_good_folder_reports_and_exits_0(tmp_path: Path) -> None:
    result = run(str(folder(tmp_path, AAA=GOOD, BBB_gz=GOOD[:2])))
    assert result.exit_code == 0, result.output
    assert "AAA" in result.output and "TOTAL" in result.output and "usable under policy 'drop'" in result.output


@pytest.mark.parametrize("bad,line,field", [
    ("2024-01-03,10,eleven,9,10.5,100,9.4", 3, "high"),
    ("2024-01-02,10,11,9,10.5,100,9.4", 3, "date"),
    ("2024-01-03,10,8,9,10.5,100,9.4", 3, "high"),
])
def test_refused_file_one_line_exit_2(tmp_path: Path, bad: str, line: int, field: str) -> None:
    data = folder(tmp_path, AAA=GOOD, BAD_gz=[GOOD[0], bad, GOOD[2]])
    result = run(str(data))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert str(data / "BAD.csv.gz") in result.output and f"line {line}" in result.output and f"field '{field}'" in result.output


def test_policy_error_refuses_zero_volume_and_bad_policy(tmp_path: Path) -> None:
    data = folder(tmp_path, AAA=GOOD)
    result = run(str(data), "--policy", "error")
    assert result.exit_code == 2 and "line 4" in result.output and "field 'volume'" in result.output
    assert run(str(data), "--policy", "ffill").exit_code == 0
    bad = run(str(data), "--policy", "mend")
    assert bad.exit_code == 2 and "unknown repair policy" in bad.output


def test_real_process_corrupt_gzip_no_traceback(tmp_path: Path) -> None:
    data = folder(tmp_path, AAA=GOOD)
    (data / "ZZZ.csv.gz").write_bytes(gzip.compress(("\n".join([HEADER] + GOOD * 2000)).encode())[:500])
    exe = Path(sys.executable).with_name("adaptrade")
    proc = subprocess.run([str(exe), "data", "check", str(data)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "ZZZ.csv.gz" in proc.stderr and "line" in proc.stderr and "corrupt" in proc.stderr


def test_sample_passes_every_policy(sample_dir: Path) -> None:
    for policy in ("error", "drop", "ffill"):
        result = run(str(sample_dir), "--policy", policy)
        assert result.exit_code == 0, result.output
        assert "all 10 files" in result.output


def test_shared_root(shared_data_dir: Path) -> None:
    result = run(str(shared_data_dir))
    assert result.exit_code == 0, result.output
    assert "500 symbols, 2,577,472 rows" in result.output and "9904 rows repaired" in result.output
    strict = run(str(shared_data_dir), "--policy", "error")
    assert strict.exit_code == 2 and "AAON.csv.gz, line 231, field 'volume'" in strict.output
