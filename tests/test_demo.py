"""`make demo`'s command runs on a fresh checkout: synthetic data plus the shipped real sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_demo_runs_on_the_shipped_sample_without_shared_data(tmp_path: Path) -> None:
    env = dict(os.environ, ADAPTRADE_DATA_DIR=str(tmp_path / "no_shared_data_here"), ADAPTRADE_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "adaptrade", "demo", "--out", str(tmp_path / "demo")], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "SYNTHETIC" in out and "REAL" in out
    assert "flatters" in out  # the synthetic caveat is printed
    assert "commission 1 bps + slippage 5 bps" in out  # costs are on and printed
    syn = pd.read_csv(tmp_path / "demo" / "synthetic" / "stocks.csv")
    real = pd.read_csv(tmp_path / "demo" / "real" / "stocks.csv")
    assert len(syn) == 50
    assert len(real) >= 8
    doc = json.loads((tmp_path / "demo" / "real" / "summary.json").read_text())
    assert doc["settings"]["benchmark"] == "SPY"
    assert (tmp_path / "adaptrade.duckdb").exists()
    listing = subprocess.run([sys.executable, "-m", "adaptrade", "runs", "list"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert listing.returncode == 0 and listing.stdout.count("synthetic") >= 1 and listing.stdout.count("archive") >= 1
