"""Quality score per stock in (0, 1) from one backtest: what the next cycle ranks stocks by.

    score = w_s * sigmoid(sharpe) + w_w * (wins + 1) / (trades + 2) + w_o * sigmoid(outperformance / 0.2)

with weights (0.5, 0.3, 0.2) by default, normalised to sum to 1. Why this shape:
- every component is squashed into (0, 1), so one lucky outlier (Sharpe 9 on 3 trades) cannot
  dominate the ranking and scores of different periods are comparable;
- Sharpe gets the largest weight because it is risk-adjusted (return alone rewards volatility);
- the win rate is shrunk toward 1/2 by its trade count (Laplace / Beta(1,1) prior): 2 wins out
  of 2 trades scores 0.75, not 1.0, so a handful of trades earns little credit;
- outperformance vs the benchmark over the period is scaled by 0.2 (20 points ahead ~ 0.73).
No evidence is neutral: a missing Sharpe or outperformance counts as 0 (component 0.5), no trades
gives a win component of 0.5. See docs/universe.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptrade.errors import ConfigError

DEFAULT_WEIGHTS = (0.5, 0.3, 0.2)
OUTPERFORMANCE_SCALE = 0.2
FORMULA = "w_s*sigmoid(sharpe) + w_w*(wins+1)/(trades+2) + w_o*sigmoid(outperformance/0.2)"
SCORE_COLUMNS = ["symbol", "score", "sharpe", "win_rate", "trades", "total_return", "outperformance"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def check_weights(weights: tuple[float, float, float] | list[float]) -> np.ndarray:
    """Three non-negative weights with a positive sum, normalised to sum to 1."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (3,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(f"score weights must be 3 non-negative numbers with a positive sum (got {list(weights)})",
                          field="score_weights")
    return w / w.sum()


def quality_scores(stocks: pd.DataFrame, weights: tuple[float, float, float] | list[float] = DEFAULT_WEIGHTS) -> pd.DataFrame:
    """One row per stock of a results table: the score and the inputs it came from."""
    w = check_weights(weights)
    missing = {"symbol", "sharpe", "win_rate", "trades", "total_return", "outperformance"} - set(stocks.columns)
    if missing:
        raise ConfigError(f"stocks table lacks columns {sorted(missing)} needed for the score", field="stocks")
    sharpe = np.nan_to_num(stocks["sharpe"].to_numpy(np.float64), nan=0.0, posinf=50.0, neginf=-50.0)
    trades = np.nan_to_num(stocks["trades"].to_numpy(np.float64), nan=0.0).clip(min=0.0)
    wr = stocks["win_rate"].to_numpy(np.float64)
    wins = np.where(np.isfinite(wr), wr, 0.0) * trades
    out = np.clip(np.nan_to_num(stocks["outperformance"].to_numpy(np.float64), nan=0.0), -1e6, 1e6)
    score = w[0] * _sigmoid(sharpe) + w[1] * (wins + 1.0) / (trades + 2.0) + w[2] * _sigmoid(out / OUTPERFORMANCE_SCALE)
    df = stocks[SCORE_COLUMNS[2:]].copy()
    df.insert(0, "score", score)
    df.insert(0, "symbol", stocks["symbol"].astype(str).to_numpy())
    return df.reset_index(drop=True)


def rank_by_score(scores: pd.DataFrame) -> pd.DataFrame:
    """Best score first; ties broken by symbol so the order never depends on input order."""
    return scores.sort_values(["score", "symbol"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def select_top(scores: pd.DataFrame, candidates: list[str], n: int) -> tuple[list[str], pd.DataFrame]:
    """The cycle rule: the top `n` candidates by latest score; unscored candidates fill up in list order.

    Returns (selected symbols in candidate order, a table symbol/score/rank/reason for every candidate).
    """
    if n < 1:
        raise ConfigError(f"--select must be at least 1 (got {n})", field="select")
    known = rank_by_score(scores[scores["symbol"].isin(candidates)])
    ranked = known["symbol"].tolist()
    rest = [s for s in candidates if s not in set(ranked)]
    order = ranked + rest  # scored first (best first), then never-scored in list order
    chosen = set(order[:n])
    score_of = dict(zip(known["symbol"], known["score"]))
    rows = []
    for i, s in enumerate(order):
        sc = score_of.get(s, np.nan)
        if s in chosen:
            why = f"rank {i + 1} by score {sc:.3f}" if s in score_of else "no score yet: filled in list order"
        else:
            why = f"rank {i + 1}, below the top {n}" if s in score_of else "no score yet, top N already full"
        rows.append((s, sc, i + 1, s in chosen, why))
    table = pd.DataFrame(rows, columns=["symbol", "score", "rank", "selected", "reason"])
    return [s for s in candidates if s in chosen], table
