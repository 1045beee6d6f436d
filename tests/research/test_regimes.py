"""`adaptrade experiment regimes`: the grid is monotone where it must be, and the command writes its map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli.helpers import cli, one_line_error


def test_variance_ratio_reads_mean_reversion() -> None:
    from adaptrade.research.regimes import regime_bars, variance_ratio

    walk = regime_bars(5, 2000, 5.0, 0.0, seed=1, end="2024-03-08")
    strong = regime_bars(5, 2000, 5.0, 2.0, seed=1, end="2024-03-08")
    vr_walk = np.nanmean(variance_ratio(walk.close, walk.valid))
    vr_strong = np.nanmean(variance_ratio(strong.close, strong.valid))
    assert abs(vr_walk - 1.0) < 0.1 and vr_strong < 0.9 < vr_walk
    assert (strong.low <= np.minimum(strong.open, strong.close)).all() and (strong.high >= np.maximum(strong.open, strong.close)).all()


def test_regimes_command_writes_grid_real_stocks_and_report(tmp_path: Path, sample_dir: Path) -> None:
    r = cli("experiment", "regimes", "--stocks", "3", "--bars", "300", "--data-dir", str(sample_dir), "--out", str(tmp_path / "o"),
            cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "real stocks (10): VR(5) median" in r.stdout
    grid = pd.read_csv(tmp_path / "o" / "regimes.csv")
    assert len(grid) == 2 * (1 + 4 * 4)  # random walk + 4 half-lives x 4 sizes, two variants each
    assert {"half_life", "ou_size", "vr5", "variant", "mean_sharpe", "win_rate", "beat_share"} <= set(grid.columns)
    walk = grid[grid["ou_size"] == 0]["vr5"].iloc[0]
    assert grid[grid["ou_size"] == 4]["vr5"].max() < walk  # more OU, more short-horizon reversal
    assert len(pd.read_csv(tmp_path / "o" / "real_vr5.csv")) == 10
    assert "Sharpe and win rate vs VR(5)" in (tmp_path / "o" / "report.html").read_text()


def test_regimes_refuses_bad_sizes(tmp_path: Path) -> None:
    one_line_error(cli("experiment", "regimes", "--bars", "10", cwd=tmp_path), "--bars")
