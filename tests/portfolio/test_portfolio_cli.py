"""`adaptrade backtest --mode portfolio`: same files as per-stock mode plus orders.csv / fills.csv
(and the order history, risk events, account curve), ISO timestamps, stored run, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ORDER_COLS = "order_id,symbol,side,quantity,order_type,limit_price,created,status"
FILL_COLS = "order_id,symbol,side,quantity,price,timestamp"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adaptrade", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def portfolio_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("prun")
    r = _cli("backtest", "--mode", "portfolio", "--stocks", "15", "--bars", "1500", "--seed", "4", "--out", str(d / "out"),
             "--db", str(d / "runs.duckdb"), cwd=d)
    assert r.returncode == 0, r.stderr
    assert "portfolio account" in r.stdout
    return d / "out"


def test_portfolio_files_and_headers(portfolio_run: Path) -> None:
    for name in ("summary.json", "stocks.csv", "trades.csv", "params.csv", "equity.parquet", "report.html",
                 "orders.csv", "fills.csv", "order_history.csv", "risk_events.csv", "account.csv"):
        assert (portfolio_run / name).exists(), name
    assert (portfolio_run / "orders.csv").read_text().splitlines()[0].startswith(ORDER_COLS)
    assert (portfolio_run / "fills.csv").read_text().splitlines()[0].startswith(FILL_COLS)
    orders = pd.read_csv(portfolio_run / "orders.csv")
    fills = pd.read_csv(portfolio_run / "fills.csv")
    assert len(orders) and len(fills) and orders["order_id"].is_unique
    for col in (orders["created"], fills["timestamp"]):
        pd.to_datetime(col, format="ISO8601")  # ISO timestamps
    assert (fills.groupby("order_id")["quantity"].sum() - orders.set_index("order_id")["filled_quantity"].reindex(
        fills["order_id"].unique())).abs().max() < 1e-6
    created = orders.set_index("order_id")["created"]
    assert (fills["timestamp"] > created.loc[fills["order_id"]].to_numpy()).all()
    doc = json.loads((portfolio_run / "summary.json").read_text())
    assert doc["settings"]["mode"] == "portfolio" and doc["settings"]["risk"]["kelly_fraction"] == 0.25
    acct = doc["portfolio"]
    assert acct["orders"] == len(orders) and acct["final_equity"] > 0
    account = pd.read_csv(portfolio_run / "account.csv")
    assert (account["cash"] >= -1e-6).all() and (account["gross"] <= 1.0 + 1e-9).all()


def test_client_order_ids_are_stable(portfolio_run: Path, tmp_path: Path) -> None:
    r = _cli("backtest", "--mode", "portfolio", "--stocks", "15", "--bars", "1500", "--seed", "4", "--out", str(tmp_path / "o"),
             "--no-store", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a = pd.read_csv(portfolio_run / "orders.csv")["order_id"]
    b = pd.read_csv(tmp_path / "o" / "orders.csv")["order_id"]
    assert a.tolist() == b.tolist()


def test_unknown_mode_is_one_clear_line(tmp_path: Path) -> None:
    r = _cli("backtest", "--mode", "both", "--no-store", cwd=tmp_path)
    assert r.returncode == 2 and "unknown mode 'both'" in r.stderr and "Traceback" not in r.stderr


def test_terminal_shows_per_stock_rows_as_attribution(tmp_path: Path) -> None:
    r = _cli("backtest", "--mode", "portfolio", "--stocks", "6", "--bars", "600", "--seed", "4", "--no-store", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "contribution to account return" in out
    assert "recommended for live" not in out and "beat buy & hold" not in out and "buy&hold" not in out
    assert "portfolio account" in out


def test_report_shows_the_account_and_stays_bounded(portfolio_run: Path) -> None:
    import base64
    import re

    from plotly.offline import get_plotlyjs

    from adaptrade.reports.html import ACCOUNT_DRAWDOWN_TITLE, MAX_POINTS

    page = (portfolio_run / "report.html").read_text(encoding="utf-8")
    assert "adaptrade backtest report (portfolio mode: one account)" in page
    acct = page.index("Account (portfolio mode: one account): equity vs")
    assert acct < page.index(ACCOUNT_DRAWDOWN_TITLE) and "Average of 15 stocks" not in page  # no sleeve vs buy & hold
    # account figures (2-3) + the analytics sections' heatmap, rolling and underwater figures (3)
    assert page.count('class="plotly-graph-div"') in (5, 6) and page.count(get_plotlyjs()) == 1
    series = re.findall(r'"bdata":"([^"]*)"', page)
    assert max(len(base64.b64decode(s)) // 8 for s in series) <= MAX_POINTS + 2
    assert len(page) - len(get_plotlyjs()) < 600_000  # the page stays within the size bound
    assert not list(portfolio_run.glob(".*.tmp"))


def test_run_store_keeps_orders_fills_and_risk_events(portfolio_run: Path) -> None:
    from adaptrade.storage.runs import RunStore

    with RunStore(portfolio_run.parent / "runs.duckdb", read_only=True) as rs:
        (rid,) = rs.list_runs()["id"].tolist()
        run = rs.load_run(rid)
    for name, csv in (("orders", "orders.csv"), ("fills", "fills.csv"), ("risk_events", "risk_events.csv")):
        disk = pd.read_csv(portfolio_run / csv)
        assert list(run[name].columns) == list(disk.columns) and len(run[name]) == len(disk), name
    assert run["orders"]["order_id"].tolist() == pd.read_csv(portfolio_run / "orders.csv")["order_id"].tolist()
    assert len(run["orders"]) == run["summary"]["portfolio"]["orders"] > 0
    r = _cli("runs", "show", rid, "--db", str(portfolio_run.parent / "runs.duckdb"), cwd=portfolio_run.parent)
    assert r.returncode == 0, r.stderr
    assert f"orders {len(run['orders']):,}, fills {len(run['fills']):,}" in " ".join(r.stdout.split())
