"""The report's HTML tables: the column-wise cell formatting gives exactly the cells of the per-value rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptrade.reports.html_tables import _cell, html_table


def _per_value(df: pd.DataFrame) -> str:
    """html_table written the plain way: every value through the per-value rules (`_cell`), row by row."""
    cols = list(df.columns)
    head = "".join(f"<th>{c}</th>" for c in cols)
    rows = ["<tr>" + "".join(_cell(c, v) for c, v in zip(cols, row)) + "</tr>" for row in df.itertuples(index=False)]
    return f'<table id="t"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def test_columnwise_cells_equal_the_per_value_rules() -> None:
    rng = np.random.default_rng(3)
    n = 40
    vals = rng.normal(size=n) * 3
    vals[[1, 5]] = np.nan
    vals[7] = np.inf
    df = pd.DataFrame({
        "symbol": [f"S<{i}>&" for i in range(n)],
        "total_return": vals, "sharpe": vals * 2, "excess_sharpe": vals / 3, "deflated_sharpe": vals, "alpha": vals * 1e-4,
        "beat_share": vals, "trades": rng.integers(0, 50, n), "recommended": rng.random(n) > 0.5,
        "start": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "rank": np.arange(1, n + 1), "note": [None if i % 3 else "x" for i in range(n)],
    })
    assert html_table(df, "t") == _per_value(df)
    assert html_table(df.iloc[:0], "t") == _per_value(df.iloc[:0])
