"""Long work shows a rich progress bar on a terminal and stays quiet when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import cli

ARGS = ("backtest", "--stocks", "100", "--bars", "1000", "--no-store", "--top", "1")


def _on_a_terminal(args: tuple[str, ...], cwd: Path) -> tuple[int, bytes]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    p = subprocess.Popen([sys.executable, "-m", "adaptrade", *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                         close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=300), out


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    code, out = _on_a_terminal(ARGS, tmp_path)
    assert code == 0
    assert b"backtesting stocks" in out


def test_quiet_when_piped(tmp_path: Path) -> None:
    r = cli(*ARGS, cwd=tmp_path)
    assert r.returncode == 0
    assert r.stderr == "" and "backtesting stocks" not in r.stdout


def test_loading_archive_files_shows_a_bar_on_a_terminal(tmp_path: Path, sample_dir: Path) -> None:
    """Loading hundreds of files is long work too: the archive load reports each file read."""
    code, out = _on_a_terminal(("backtest", "--source", "archive", "--data-dir", str(sample_dir), "--no-store", "--top", "1"), tmp_path)
    assert code == 0
    assert b"loading data files" in out


def test_archive_load_reports_every_file(sample_dir: Path, tmp_path: Path) -> None:
    from adaptrade.data.archive import available_symbols, load_archive

    seen: list[tuple[int, int]] = []
    syms = sorted(s for s in available_symbols(sample_dir) if s not in ("SPY", "GSPC"))
    load_archive(sample_dir, syms, cache_dir=tmp_path / "cache", on_file=lambda d, n: seen.append((d, n)))
    assert seen[0] == (0, len(syms)) and seen[-1] == (len(syms), len(syms))  # cold: one call per parsed file
    assert [d for d, _ in seen] == list(range(len(syms) + 1))
    seen.clear()
    load_archive(sample_dir, syms, cache_dir=tmp_path / "cache", on_file=lambda d, n: seen.append((d, n)))
    assert seen == [(len(syms), len(syms))]  # warm: everything came from the cache at once
