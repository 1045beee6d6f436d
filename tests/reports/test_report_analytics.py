"""report.html's analytics sections carry the same numbers as `adaptrade analytics` on the stored run,
per-stock (the equal-weight book) and in portfolio mode (the account, taxed from its fills)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adaptrade.reports.files import summary, write_outputs
from adaptrade.storage.runs import RunStore


def _table(page: str, tid: str) -> list[list[Any]]:
    """The body rows of table `tid`: numbers from data-v, text cells as text."""
    m = re.search(rf'<table id="{tid}">.*?<tbody>(.*?)</tbody></table>', page, re.S)
    assert m, f"no table {tid}"
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S):
        cells = re.findall(r'<td( data-v="([^"]*)")?>(.*?)</td>', tr)
        rows.append([(float(v) if v else None) if attr else text for attr, v, text in cells])
    return rows


def _cli(kind: str, rid: str, db: str) -> dict[str, list[dict[str, Any]]]:
    """`adaptrade analytics KIND RUN --out DIR` (csv: full precision), each file's rows as records."""
    import tempfile

    import pandas as pd

    from adaptrade.cli import app

    out = Path(tempfile.mkdtemp())
    r = CliRunner().invoke(app, ["analytics", kind, rid, "--db", db, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return {p.stem: [{k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
                     for rec in pd.read_csv(p, dtype={"year": str, "month": str}).to_dict("records")]
            for p in out.glob("*.csv")}


def _eq(got: list[list[Any]], want: list[list[Any]]) -> None:
    """Row by row: text equal, numbers to 1e-12 (relative) or 1e-9 (absolute)."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert len(g) == len(w), (g, w)
        for a, b in zip(g, w):
            if isinstance(b, (int, float)) and b is not None:
                assert a == pytest.approx(float(b), rel=1e-12, abs=1e-9), (g, w)
            else:
                assert (a or None) == (None if b is None else str(b)), (g, w)  # "" in a csv reads back as missing


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _check(page: str, rid: str, db: str, portfolio: bool) -> None:
    assert '<h2 id="analytics">' in page
    ret = _cli("returns", rid, db)
    want = [[r["year"], r["ret"]] for r in ret["returns_yearly"] if r["symbol"] == "ACCOUNT"]
    assert len(want) >= 2
    _eq(_table(page, "an-returns-yearly"), want)
    months = [r for r in ret["returns_monthly"] if r["symbol"] == "ACCOUNT"]
    heat = re.search(r'"type":"heatmap","name":"monthly return".*?"z":(\[\[.*?\]\])', page, re.S)
    assert heat, "no account monthly heatmap"
    z = [v for row in json.loads(heat.group(1)) for v in row if v is not None]
    assert z == pytest.approx([m["ret"] for m in months], rel=1e-12)
    att = _cli("attribution", rid, db)
    stocks = sorted((r for r in att["attribution"] if r["symbol"] not in ("ACCOUNT",) and not r["symbol"].startswith("(")),
                    key=lambda r: -r["contribution"])
    top = _table(page, "an-attribution-top")
    assert [r[0] for r in top] == [r["symbol"] for r in stocks[:len(top)]]
    assert [r[2] for r in top] == pytest.approx([r["contribution"] for r in stocks[:len(top)]], rel=1e-12)
    if not portfolio:  # market exposure vs timing
        cols = ["symbol", "sector", "contribution", "total_return", "buy_hold_return", "exposure_return", "timing_return"]
        assert top[0][5] == pytest.approx(stocks[0]["exposure_return"], rel=1e-12) and top[0][6] == pytest.approx(stocks[0]["timing_return"], rel=1e-12)
        assert len(top[0]) == len(cols)
    sec = _table(page, "an-attribution-sectors")
    _eq([[r[0], r[1]] for r in sec], [[r["sector"], r["contribution"]] for r in att["attribution_sectors"]])
    tax = _cli("tax", rid, db)
    ts = [[r["year"], r["short_term_gain"], r["long_term_gain"], r["wash_sale_disallowed"], r["tax"]] for r in tax["tax_summary"]]
    assert len(ts) >= 1
    _eq(_table(page, "an-tax-summary"), [[float(r[0]), *r[1:]] for r in ts])
    tm = [[r["method"], r["realised_gain"], r["tax"], r["pre_tax_return"], r["after_tax_return"]] for r in tax["tax_methods"]]
    _eq(_table(page, "an-tax-methods"), tm)
    dd = _cli("drawdowns", rid, db)
    worst = [[r["peak"], r["trough"], r["recovery"], r["depth"], _num(r["length"]), _num(r["time_to_recover"]), _num(r["decline"])]
             for r in dd["drawdowns_worst"]]
    got = [[r[0], r[1], None if r[2] == "–" else r[2], *r[3:]] for r in _table(page, "an-drawdowns-worst")]
    assert len(worst) == 5
    _eq(got, worst)
    assert "underwater curve" in page and "rolling 63\\u002f252-day volatility and Sharpe" in page  # plotly JSON escapes "/"


def test_per_stock_report_analytics_match_the_cli(tmp_path: Path) -> None:
    from tests.storage.test_runs import _result

    res = _result(8, 1400, seed=5)
    doc = summary(res)
    write_outputs(res, tmp_path / "o", summary_doc=doc)
    db = str(tmp_path / "r.duckdb")
    with RunStore(db) as st:
        rid = st.save(res, doc)
    _check((tmp_path / "o" / "report.html").read_text(), rid, db, portfolio=False)


def test_portfolio_report_analytics_match_the_cli(tmp_path: Path) -> None:
    from adaptrade.data.synthetic import generate
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    cfg = StrategyConfig()
    bars = generate([f"S{i}" for i in range(6)], 1500, 9)
    pr = build_portfolio_result(run_portfolio_backtest(bars, cfg, RiskLimits.off(cfg.initial_cash)), None, "none")
    doc = summary(pr.result)
    doc["portfolio"] = pr.account_summary()
    write_outputs(pr.result, tmp_path / "o", summary_doc=doc, account=pr.account, fills=pr.fills)
    db = str(tmp_path / "p.duckdb")
    with RunStore(db) as st:
        rid = st.save(pr.result, doc, extra={"orders": pr.orders, "fills": pr.fills, "account": pr.account, "order_history": pr.history})
    page = (tmp_path / "o" / "report.html").read_text()
    _check(page, rid, db, portfolio=True)
    assert "an-attribution-rest" in page and len(pr.fills) > 20
