"""Issue 10 section 5: stocks with fewer than min_trades_rank closed trades (default 10) are ranked
after all others and are never recommended nor featured; the terminal states the rank key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adaptrade.backtest.aggregate import aggregate, rank


def _stocks() -> pd.DataFrame:
    # the reported case: #1 had 5 trades, #2 had 1
    return pd.DataFrame({
        "symbol": ["FEW5", "ONE", "OK1", "OK2", "OK3"],
        "total_return": [0.9, 0.8, 0.3, 0.2, -0.1], "buy_hold_return": [0.1] * 5, "benchmark_return": [0.1] * 5,
        "outperformance": [0.8, 0.7, 0.2, 0.1, -0.2], "win_rate": [1.0, 1.0, 0.9, 0.6, 0.4],
        "sharpe": [3.5, 3.0, 2.5, 1.0, -0.5], "max_drawdown": [-0.1] * 5, "trades": [5, 1, 12, 20, 11],
        "exposure": [0.2] * 5, "recommended": [False] * 5,
    })


def test_below_min_trades_ranked_after_all_others() -> None:
    r = rank(_stocks(), "sharpe", min_trades=10)
    assert r["symbol"].tolist() == ["OK1", "OK2", "OK3", "FEW5", "ONE"]
    assert rank(_stocks(), "sharpe")["symbol"].tolist()[:2] == ["FEW5", "ONE"]  # without the rule
    a = aggregate(_stocks(), min_trades=10)
    assert a["best"][0] == "OK1" and "FEW5" not in a["best"] + a["worst"] and a["rank_key"] == "sharpe"
    assert a["below_min_trades"] == 2


def test_never_recommended_nor_featured(tmp_path: Path) -> None:
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.results import build_result
    from adaptrade.data.synthetic import generate
    from adaptrade.reports.html import write_report
    from adaptrade.strategy.params import StrategyConfig

    bars = generate([f"S{i}" for i in range(4)], 1500, seed=5)
    out = run_backtest(bars, StrategyConfig())
    res = build_result(out, None, "none", min_sharpe=-10.0, min_win_rate=0.0, min_trades=10, settings={"min_trades_rank": 10})
    s = res.stocks
    assert (s.loc[s["trades"] < 10, "recommended"] == False).all()  # noqa: E712
    assert s.loc[s["trades"] >= 10, "recommended"].all()
    page = write_report(res, tmp_path / "r.html").read_text()
    featured = page.split("(chosen: ")[1].split(")")[0]
    few = set(s.loc[s["trades"] < 10, "symbol"])
    assert featured not in few
    res0 = build_result(out, None, "none", min_sharpe=-10.0, min_win_rate=0.0, min_trades=10_000, settings={"min_trades_rank": 10_000})
    page = write_report(res0, tmp_path / "r0.html").read_text()
    assert "chosen: none (no stock with at least 10000 closed trades" in page
    assert not np.asarray(res0.stocks["recommended"]).any()


def test_terminal_states_the_rank_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "adaptrade", "backtest", "--stocks", "6", "--bars", "800", "--seed", "2", "--no-store"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "ranked by Sharpe (stocks with fewer than 10 closed trades ranked after all others" in r.stdout
    assert "best 5 by Sharpe (>= 10 closed trades)" in r.stdout and "worst 5 by Sharpe (>= 10 closed trades)" in r.stdout
    assert "over the period" in r.stdout  # the benchmark's return for the period
