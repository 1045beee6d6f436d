"""Set-up a fresh machine finishes on its own: make test sets up the browser, .ci/run is make test, --version."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.cli.helpers import cli

REPO = Path(__file__).resolve().parents[2]


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from adaptrade import __version__

    r = cli("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"adaptrade {__version__}"


def test_ci_run_is_make_test_then_the_image_test() -> None:
    body = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert body == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "make test", "make test-image"]


def test_make_test_runs_the_browser_setup_first() -> None:
    r = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": ""})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    setup = [i for i, ln in enumerate(lines) if "setup_browser.sh" in ln]
    tests = [i for i, ln in enumerate(lines) if "pytest" in ln]
    assert setup and tests and setup[0] < tests[0], r.stdout


def test_browser_setup_says_what_to_install_when_it_cannot(tmp_path: Path) -> None:
    """No chromium on PATH and not root: the script names the package to install (and does not fail make)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "id", "env"):  # a PATH without chromium or apt-get
        found = shutil.which(tool)
        assert found
        (bindir / tool).symlink_to(found)
    r = subprocess.run([str(bindir / "bash"), str(REPO / "scripts" / "setup_browser.sh")], capture_output=True, text=True,
                       env={"PATH": str(bindir)})
    assert r.returncode == 0, r.stderr
    assert "apt-get install chromium" in r.stdout


def test_browser_setup_is_quiet_when_chromium_is_there(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "chromium").write_text("#!/bin/sh\n")
    (bindir / "chromium").chmod(0o755)
    r = subprocess.run([shutil.which("bash") or "bash", str(REPO / "scripts" / "setup_browser.sh")], capture_output=True,
                       text=True, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout == "", r.stdout


def test_boolean_flags_show_as_flags_in_help(tmp_path: Path) -> None:
    r = cli("backtest", "--help", cwd=tmp_path, env={"COLUMNS": "200"})
    assert r.returncode == 0
    line = next(ln for ln in r.stdout.splitlines() if "--whole-shares" in ln)
    assert "<bool>" not in line and "<bool>" not in r.stdout
    assert "<int>" in next(ln for ln in r.stdout.splitlines() if "--top" in ln)  # valued options keep their type
