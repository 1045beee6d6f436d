"""Portfolio aggregation of per-stock results: the seed's results block, rankings, quality filter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _f(x: Any) -> float | None:
    """A JSON-friendly float (None for NaN)."""
    v = float(x)
    return None if not np.isfinite(v) else v


def aggregate(stocks: pd.DataFrame, top: int = 5) -> dict[str, Any]:
    """Mean / median / std of returns, beat-the-benchmark count and share, medians, best/worst."""
    ret = stocks["total_return"]
    out = stocks["outperformance"]
    beat = int((out > 0).sum())
    n = int(len(stocks))
    by_ret = stocks.sort_values(["total_return", "symbol"], ascending=[False, True])
    return {
        "stocks": n,
        "mean_return": _f(ret.mean()),
        "median_return": _f(ret.median()),
        "std_return": _f(ret.std(ddof=1)) if n > 1 else None,
        "mean_buy_hold_return": _f(stocks["buy_hold_return"].mean()),
        "mean_benchmark_return": _f(stocks["benchmark_return"].mean()),
        "beat_benchmark": beat,
        "beat_benchmark_share": _f(beat / n) if n else None,
        "beat_buy_hold": int((stocks["total_return"] > stocks["buy_hold_return"]).sum()),
        "median_outperformance": _f(out.median()),
        "mean_sharpe": _f(stocks["sharpe"].mean()),
        "mean_win_rate": _f(stocks["win_rate"].mean()),
        "mean_max_drawdown": _f(stocks["max_drawdown"].mean()),
        "total_trades": int(stocks["trades"].sum()),
        "recommended": int(stocks["recommended"].sum()),
        "recommended_symbols": stocks.loc[stocks["recommended"], "symbol"].tolist(),
        "best": by_ret["symbol"].head(top).tolist(),
        "worst": by_ret["symbol"].tail(top).iloc[::-1].tolist(),
    }


def rank(stocks: pd.DataFrame, by: str = "sharpe") -> pd.DataFrame:
    """Stocks ranked by `sharpe` or `outperformance` (best first, NaN last, ties by symbol)."""
    if by not in ("sharpe", "outperformance", "total_return"):
        raise ValueError(f"cannot rank by {by!r}")
    ranked = stocks.sort_values([by, "symbol"], ascending=[False, True], na_position="last").reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked
