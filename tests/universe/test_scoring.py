"""The quality score: bounded, monotone in each input, documented edge cases; DuckDB history."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.errors import ConfigError, StoreError
from adaptrade.storage.scores import ScoreStore
from adaptrade.universe.scoring import (
    FORMULA,
    quality_scores,
    rank_by_score,
    select_top,
)


def _stocks(**cols: list[float]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = dict(symbol=[f"S{i}" for i in range(n)], sharpe=[0.0] * n, win_rate=[0.5] * n, trades=[10.0] * n,
                total_return=[0.0] * n, outperformance=[0.0] * n)
    base.update(cols)  # type: ignore[arg-type]
    return pd.DataFrame(base)


finite = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=200, deadline=None)
@given(sharpe=finite, wr=st.one_of(st.floats(0, 1), st.just(float("nan"))), trades=st.integers(0, 10_000), out=finite)
def test_score_is_bounded(sharpe: float, wr: float, trades: int, out: float) -> None:
    s = quality_scores(_stocks(sharpe=[sharpe], win_rate=[wr], trades=[float(trades)], outperformance=[out]))["score"].item()
    assert 0.0 <= s <= 1.0 and np.isfinite(s)


def test_score_values_and_monotonicity() -> None:
    neutral = quality_scores(_stocks(sharpe=[np.nan], win_rate=[np.nan], trades=[0.0], outperformance=[np.nan]))
    assert neutral["score"].item() == pytest.approx(0.5)  # no evidence is neutral
    s = quality_scores(_stocks(sharpe=[2.0], win_rate=[1.0], trades=[2.0], outperformance=[0.2]))["score"].item()
    expected = 0.5 / (1 + np.exp(-2.0)) + 0.3 * 0.75 + 0.2 / (1 + np.exp(-1.0))
    assert s == pytest.approx(expected)
    up = quality_scores(_stocks(sharpe=[0.0, 1.0, 3.0]))["score"]
    assert up.is_monotonic_increasing and up.is_unique
    more_trades = quality_scores(_stocks(win_rate=[1.0, 1.0], trades=[2.0, 40.0]))["score"]
    assert more_trades[1] > more_trades[0]  # 40/40 is stronger evidence than 2/2
    w = quality_scores(_stocks(sharpe=[5.0]), weights=(2, 0, 0))["score"].item()
    assert w == pytest.approx(1 / (1 + np.exp(-5.0)))  # weights are normalised
    with pytest.raises(ConfigError):
        quality_scores(_stocks(sharpe=[1.0]), weights=(1, -1, 0))
    with pytest.raises(ConfigError):
        quality_scores(pd.DataFrame({"symbol": ["A"]}))


def test_select_top_prefers_scores_then_list_order() -> None:
    scores = pd.DataFrame({"symbol": ["B", "C", "D", "Z"], "score": [0.7, 0.9, 0.7, 1.0]})
    chosen, table = select_top(scores, ["A", "B", "C", "D", "E"], 3)
    assert chosen == ["B", "C", "D"]  # in candidate order; Z is not a candidate
    assert table["symbol"].tolist() == ["C", "B", "D", "A", "E"] and table["selected"].sum() == 3
    chosen, table = select_top(scores, ["A", "B", "E"], 2)
    assert chosen == ["A", "B"] and "no score yet" in table.set_index("symbol").loc["A", "reason"]
    assert rank_by_score(scores)["symbol"].tolist() == ["Z", "C", "B", "D"]
    with pytest.raises(ConfigError):
        select_top(scores, ["A"], 0)


def test_store_keeps_history_and_latest(store_url: str) -> None:
    db = store_url
    if not db.startswith("postgresql"):
        with pytest.raises(StoreError):
            ScoreStore(db, read_only=True)
    first = quality_scores(_stocks(sharpe=[1.0, 2.0]))
    second = quality_scores(_stocks(sharpe=[3.0]))
    with ScoreStore(db) as ss:
        assert ss.latest().empty
        ss.save(first, "run1", 1, ("2020-01-02", "2021-12-31"), FORMULA)
        ss.save(second, "run1", 2, ("2022-01-03", "2023-12-29"), FORMULA)
        ss.save(second, "run1", 2, ("2022-01-03", "2023-12-29"), FORMULA)  # re-running a cycle replaces it: no duplicates
        assert len(ss.history()) == len(first) + len(second)
    with ScoreStore(db, read_only=True) as ss:
        latest = ss.latest()
        hist = ss.history("S0")
    assert latest["symbol"].tolist() == ["S0", "S1"] and latest["cycle"].tolist() == [2, 1]
    assert latest.loc[0, "score"] == pytest.approx(second["score"].item())
    assert hist["cycle"].tolist() == [1, 2] and hist["period_start"].tolist() == ["2020-01-02", "2022-01-03"]
