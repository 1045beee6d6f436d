"""Shared bits of the paper-trading CLI tests: the replay arguments and a subprocess runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def replay_args(sample_dir: Path, symbols: str, start: str, end: str) -> list[str]:
    """Real sample data, wider thresholds so a short period still trades and adapts."""
    return ["--data-dir", str(sample_dir), "--symbols", symbols, "--start", start, "--end", end, "--buy", "35", "--sell", "65"]


def paper_env(tmp: Path, delay: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    env.update(PYTHONPATH=str(REPO / "src"), ADAPTRADE_PAPER_EVENT_DELAY=str(delay),
               ADAPTRADE_CACHE_DIR=str(tmp / "cache"), ADAPTRADE_PAPER_DIR=str(tmp / "paper"),
               ADAPTRADE_PAPER_PUBLISH="false")  # a test that reads the Redis stream turns it on with its own prefix
    return env


def start_paper(tmp: Path, args: list[str], delay: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "adaptrade", "paper", "run", *args], cwd=tmp,
                            env=paper_env(tmp, delay), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def journal_lines(folder: Path) -> list[dict[str, object]]:
    """The session's event journal (a line cut by a kill is skipped)."""
    out = []
    try:
        text = (folder / "events.jsonl").read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out
