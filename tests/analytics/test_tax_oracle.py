"""The fast tax lot matching gives the same lots and summaries as the old pure-Python version
(tests/analytics/tax_oracle.py) on random transactions and on the transactions of a backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptrade.analytics import tax
from tests.analytics import tax_oracle

RATES = (0.37, 0.20)


def _same(tx: pd.DataFrame, marks: dict[str, float] | None = None) -> None:
    for m in tax.METHODS:
        lots, summary = tax.tax_lots(tx, m, RATES, marks=marks)
        olots, osummary = tax_oracle.tax_lots(tx, m, RATES, marks=marks)
        pd.testing.assert_frame_equal(lots, olots, check_exact=True)  # the same arithmetic in the same order
        pd.testing.assert_frame_equal(summary.astype(float), osummary.astype(float), rtol=1e-12, atol=1e-9)


def _random_tx(seed: int, n: int, accounts: int) -> pd.DataFrame:
    """Buys and sells of a few symbols over ~3 years, sells never more than held, with fees."""
    rng = np.random.default_rng(seed)
    rows, held = [], {}
    days = np.sort(rng.integers(0, 1100, n))
    for i, d in enumerate(days):
        acct, sym = f"A{rng.integers(accounts)}", f"S{rng.integers(3)}"
        h = held.get((acct, sym), 0.0)
        sell = h > 0 and rng.random() < 0.45
        q = float(min(h, rng.integers(1, 40))) if sell else float(rng.integers(1, 40))
        held[(acct, sym)] = h - q if sell else h + q
        rows.append((acct, sym, pd.Timestamp("2019-12-20") + pd.Timedelta(days=int(d)), "sell" if sell else "buy", q,
                     float(np.round(rng.uniform(20, 80), 2)), float(np.round(rng.uniform(0, 2), 2)), i))
    return pd.DataFrame(rows, columns=["account", "symbol", "date", "side", "quantity", "price", "fee", "seq"])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.integers(1, 3))
def test_fast_matching_equals_the_oracle_on_random_transactions(seed: int, n: int, accounts: int) -> None:
    _same(_random_tx(seed, n, accounts))


def test_fast_matching_equals_the_oracle_on_a_backtest() -> None:
    from tests.storage.test_runs import _result

    res = _result(12, 1500, seed=3)
    run = {"trades": res.trades}
    tx = tax.transactions(run)
    assert len(tx) > 50
    _same(tx, tax.marks(run))
    _same(tx)  # without marks: open lots priced at each group's last transaction


def test_empty_transactions() -> None:
    tx = _random_tx(0, 1, 1).iloc[:0]
    lots, summary = tax.tax_lots(tx, "fifo", RATES)
    assert lots.empty and summary.empty and list(summary.columns) == tax.SUMMARY_COLUMNS
    with pytest.raises(ValueError, match="unknown lot method"):
        tax.tax_lots(tx, "nope", RATES)
