"""Tax lots against hand-worked examples: FIFO vs HIFO, a wash sale across a year end, a partial
replacement, the 365/366-day boundary, a chain of two wash sales."""

from __future__ import annotations

import pandas as pd
import pytest

from adaptrade.analytics.tax import LOT_COLUMNS, SUMMARY_COLUMNS, long_term, tax_lots

RATES = (0.37, 0.20)


def _tx(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    """(date, side, quantity, price) of one symbol XYZ in one account, no fees."""
    return pd.DataFrame({"account": "A", "symbol": "XYZ", "date": pd.to_datetime([r[0] for r in rows]), "side": [r[1] for r in rows],
                         "quantity": [float(r[2]) for r in rows], "price": [float(r[3]) for r in rows], "fee": 0.0,
                         "seq": range(len(rows))})


def _sold(lots: pd.DataFrame) -> pd.DataFrame:
    return lots[lots["disposed"].notna()].reset_index(drop=True)


def test_fifo_vs_hifo_on_the_same_fills() -> None:
    tx = _tx(("2020-01-02", "buy", 10, 100), ("2020-02-03", "buy", 10, 120), ("2020-06-01", "sell", 10, 110))
    fifo, fs = tax_lots(tx, "fifo", RATES)
    hifo, hs = tax_lots(tx, "hifo", RATES)
    assert list(fifo.columns) == LOT_COLUMNS and list(fs.columns) == SUMMARY_COLUMNS
    assert _sold(fifo)[["lot_id", "cost_basis", "proceeds", "gain"]].values.tolist() == [["XYZ-1", 1000.0, 1100.0, 100.0]]
    assert _sold(hifo)[["lot_id", "cost_basis", "gain"]].values.tolist() == [["XYZ-2", 1200.0, -100.0]]
    assert fs["tax"].tolist() == pytest.approx([37.0]) and hs["tax"].tolist() == [0.0]
    assert _sold(tax_lots(tx, "mintax", RATES)[0])["lot_id"].tolist() == ["XYZ-2"]
    assert _sold(tax_lots(tx, "lifo", RATES)[0])["lot_id"].tolist() == ["XYZ-2"]
    open_fifo = fifo[fifo["disposed"].isna()]  # the other lot stays open, marked at the last price (110)
    assert open_fifo[["lot_id", "quantity", "gain"]].values.tolist() == [["XYZ-2", 10.0, -100.0]]


def test_wash_sale_across_the_year_end() -> None:
    tx = _tx(("2021-06-01", "buy", 10, 100), ("2021-12-20", "sell", 10, 80), ("2022-01-05", "buy", 10, 85),
             ("2022-03-01", "sell", 10, 90))
    lots, summary = tax_lots(tx, "fifo", RATES)
    s = _sold(lots)
    first, second = s.iloc[0], s.iloc[1]
    assert first["gain"] == 0.0 and first["wash_sale_disallowed"] == 200.0  # -200 loss, all disallowed
    # replacement: 850 + 200 basis; holding period starts 202 days (06-01 .. 12-20) before 2022-01-05
    assert second["cost_basis"] == 1050.0 and second["basis_adjustment"] == 200.0
    assert str(second["acquired"]) == "2021-06-17" and second["gain"] == -150.0 and second["term"] == "short"
    assert summary.values.tolist() == [[2021, 0.0, 0.0, 200.0, 0.0], [2022, -150.0, 0.0, 0.0, 0.0]]


def test_partial_replacement_disallows_in_proportion() -> None:
    tx = _tx(("2022-01-03", "buy", 100, 50), ("2022-03-01", "sell", 100, 40), ("2022-03-15", "buy", 60, 42))
    lots, summary = tax_lots(tx, "fifo", RATES)
    sale = _sold(lots).iloc[0]
    assert sale["wash_sale_disallowed"] == pytest.approx(600.0) and sale["gain"] == pytest.approx(-400.0)
    repl = lots[lots["disposed"].isna()].iloc[0]
    assert repl["quantity"] == 60 and repl["cost_basis"] == pytest.approx(60 * 42 + 600)
    assert str(repl["acquired"]) == "2022-01-17"  # 57 days held before the sale carry over
    assert summary["short_term_gain"].tolist() == pytest.approx([-400.0])


@pytest.mark.parametrize(("bought", "sold", "long"), [
    ("2022-01-10", "2023-01-10", False),  # 365 days: exactly one year is not more than one year
    ("2022-01-10", "2023-01-11", True),   # 366 days
    ("2023-03-01", "2024-02-29", False),  # 365 days across a leap day
    ("2023-03-01", "2024-03-01", False),  # 366 days but exactly one year (leap)
    ("2023-03-01", "2024-03-02", True),
])
def test_one_year_boundary(bought: str, sold: str, long: bool) -> None:
    assert long_term(pd.Timestamp(bought), pd.Timestamp(sold)) is long
    lots, summary = tax_lots(_tx((bought, "buy", 1, 10), (sold, "sell", 1, 15)), "fifo", RATES)
    assert _sold(lots)["term"].tolist() == ["long" if long else "short"]
    assert summary["tax"].tolist() == pytest.approx([5 * (RATES[1] if long else RATES[0])])


def test_chain_of_two_wash_sales() -> None:
    tx = _tx(("2022-01-03", "buy", 10, 100), ("2022-02-01", "sell", 10, 90), ("2022-02-10", "buy", 10, 92),
             ("2022-03-01", "sell", 10, 85), ("2022-03-20", "buy", 10, 86), ("2022-05-02", "sell", 10, 95))
    lots, summary = tax_lots(tx, "fifo", RATES)
    s = _sold(lots)
    assert s["wash_sale_disallowed"].tolist() == pytest.approx([100.0, 170.0, 0.0])
    assert s["cost_basis"].tolist() == pytest.approx([1000.0, 1020.0, 1030.0])
    assert [str(a) for a in s["acquired"]] == ["2022-01-03", "2022-01-12", "2022-01-31"]
    assert s["gain"].tolist() == pytest.approx([0.0, 0.0, -80.0])
    assert s["gain"].sum() == pytest.approx(10 * ((90 - 100) + (85 - 92) + (95 - 86)))  # the economic result
    assert summary.values.tolist() == [[2022, -80.0, 0.0, 270.0, 0.0]]


def test_net_loss_carries_forward_and_offsets_long_term() -> None:
    tx = _tx(("2020-01-02", "buy", 10, 100), ("2020-06-01", "sell", 10, 50),   # -500 short 2020
             ("2020-08-03", "buy", 10, 100), ("2021-09-01", "sell", 10, 180))  # +800 long 2021
    _, summary = tax_lots(tx, "fifo", RATES)
    assert summary["tax"].tolist() == pytest.approx([0.0, 300 * RATES[1]])
