"""report.html renders in a real browser (headless Chromium), offline: every figure is drawn."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.slow
def test_report_draws_every_figure_in_headless_chromium(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make test installs it when it can, else says what to install)")
        pytest.skip("chromium is not installed")
    r = subprocess.run([sys.executable, "-m", "adaptrade", "backtest", "--stocks", "6", "--bars", "800", "--no-store",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                       env={**os.environ, "ADAPTRADE_MIN_TRADES_RANK": "0"})  # 800 bars: few trades; feature a stock anyway
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "o" / "report.html").resolve()
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # equity, average, 2 drawdowns, monthly heatmap, parameters; analytics: account heatmap, rolling vol/Sharpe, underwater
    assert dom.count('class="plot-container plotly"') == 9
    assert dom.count('class="main-svg"') >= 4  # plotly.js ran offline and drew them
    assert "Ranking by sharpe: all 6 stocks" in dom and "Yearly returns" in dom
