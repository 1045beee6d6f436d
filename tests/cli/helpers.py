"""Run the real `adaptrade` command line as a subprocess (issue 11: every item checked this way)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "adaptrade" / "resources" / "sample"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """`python -m adaptrade ARGS` in `cwd`, with no ADAPTRADE_* variables but those in `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    base.update(env or {})
    base.setdefault("ADAPTRADE_DB_PATH", str(Path(cwd) / "runs.duckdb"))
    return subprocess.run([sys.executable, "-m", "adaptrade", *args], capture_output=True, text=True, cwd=cwd,
                          env=base, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert exit 2, one `error:` line naming every needle, no traceback; the line."""
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def sample_lines(symbol: str) -> list[str]:
    """The shipped sample file of `symbol` as text lines (header first)."""
    return gzip.open(SAMPLE / f"{symbol}.csv.gz", "rt").read().splitlines()
