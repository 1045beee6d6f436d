"""Bars.from_columns(consume=True): the same bars as without, and the caller's list emptied as it goes."""

from __future__ import annotations

import numpy as np

from adaptrade.data.bars import RELEASE_EVERY, Bars


def _series(n: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        days = np.sort(rng.choice(np.arange(np.datetime64("2020-01-01"), np.datetime64("2021-01-01")), 150 + i, replace=False))
        c = 100 + rng.normal(size=len(days)).cumsum()
        out.append({"date": days, "open": c, "high": c + 1, "low": c - 1, "close": c, "volume": np.full(len(days), 1e6),
                    "adj_close": c * 0.9})
    return out


def test_consume_gives_the_same_bars_and_empties_the_list() -> None:
    n = RELEASE_EVERY + 5  # past one release of the freed memory
    names = [f"S{i}" for i in range(n)]
    want = Bars.from_columns(names, _series(n))
    given = _series(n)
    got = Bars.from_columns(names, given, consume=True)
    assert given == [None] * n
    for k in ("open", "high", "low", "close", "volume", "adj_close", "valid", "dates"):
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k))
