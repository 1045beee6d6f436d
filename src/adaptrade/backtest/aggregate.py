"""Aggregation of per-stock results: the seed's results block, rankings, quality filter.

Ranking: by a key (Sharpe by default), best first, NaN last, ties by symbol; stocks with fewer than
`min_trades` closed trades (the `min_trades_rank` setting, default 10) are ranked after all others
and are never recommended nor featured. Best / worst 5 use the same key among the stocks with enough trades."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _f(x: Any) -> float | None:
    """A JSON-friendly float (None for NaN)."""
    v = float(x)
    return None if not np.isfinite(v) else v


MIN_TRADES = 10  # default of the min_trades_rank setting
RANK_KEY = "sharpe"


def aggregate(stocks: pd.DataFrame, top: int = 5, by: str = RANK_KEY, min_trades: int = MIN_TRADES) -> dict[str, Any]:
    """Mean / median / std of returns, beat-the-benchmark count and share, medians, best/worst by the rank key."""
    ret = stocks["total_return"]
    out = stocks["outperformance"]
    beat = int((out > 0).sum())
    n = int(len(stocks))
    enough = stocks[stocks["trades"] >= min_trades]
    by_key = rank(enough, by)
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
        "rank_key": by,
        "min_trades": int(min_trades),
        "below_min_trades": int(n - len(enough)),
        "best": by_key["symbol"].head(top).tolist(),
        "worst": by_key.loc[by_key[by].notna(), "symbol"].tail(top).iloc[::-1].tolist(),
    }


def rank(stocks: pd.DataFrame, by: str = RANK_KEY, min_trades: int = 0) -> pd.DataFrame:
    """Stocks ranked by `sharpe`, `outperformance` or `total_return` (best first, NaN last, ties by symbol);
    stocks with fewer than `min_trades` closed trades come after all others."""
    if by not in ("sharpe", "outperformance", "total_return"):
        raise ValueError(f"cannot rank by {by!r}")
    few = (stocks["trades"] < min_trades).to_numpy() if len(stocks) else np.zeros(0, dtype=bool)
    ranked = (stocks.assign(_few=few).sort_values(["_few", by, "symbol"], ascending=[True, False, True], na_position="last",
                                                  kind="mergesort").drop(columns="_few").reset_index(drop=True))
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked
