"""GET /runs/{run_id}/analytics/{kind} through the real HTTP stack, on both store backends: the numbers
agree with the run's own tables (stock returns, trade P&L), with each other, and with the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.api.conftest import Server, Store
from tests.api.test_read import get, is_problem

pytestmark = pytest.mark.service


def analytics(server: Server, run_id: str, kind: str, **params: object) -> dict:
    r = get(server, f"/runs/{run_id}/analytics/{kind}", **params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == kind and body["run_id"] == run_id
    return body


def test_returns_compound_to_each_stocks_return(server: Server, store: Store) -> None:
    stocks = {r["symbol"]: r for r in get(server, f"/runs/{store.synthetic_run}/stocks").json()["rows"]}
    a = analytics(server, store.synthetic_run, "returns", limit=1000)
    assert a["basis"] == "equal_weight_book"
    yearly = a["returns_yearly"]
    assert yearly["total"] == len(yearly["rows"]) and {r["symbol"] for r in yearly["rows"]} == {"ACCOUNT", *store.symbols}
    for sym, s in stocks.items():
        grow = math.prod(1 + r["ret"] for r in yearly["rows"] if r["symbol"] == sym) - 1
        assert grow == pytest.approx(s["total_return"], abs=1e-9), sym
    one = analytics(server, store.synthetic_run, "returns", symbol=store.symbols[0].lower(), limit=10)
    daily = one["returns_daily"]
    assert one["symbol"] == store.symbols[0] and len(daily["rows"]) == 10 and daily["total"] > 1000
    assert {r["symbol"] for r in daily["rows"]} == {store.symbols[0]}
    page2 = analytics(server, store.synthetic_run, "returns", symbol=store.symbols[0], offset=10, limit=10)["returns_daily"]
    assert page2["rows"][0]["date"] > daily["rows"][-1]["date"] and page2["total"] == daily["total"]
    assert all(r["vol_252"] is None for r in daily["rows"])  # no 252-day window yet in the first days


def test_attribution_sums_to_the_account_and_drawdowns_match_the_curve(server: Server, store: Store) -> None:
    at = analytics(server, store.synthetic_run, "attribution")
    rows = at["attribution"]["rows"]
    assert rows[-1]["symbol"] == "ACCOUNT"
    assert sum(r["contribution"] for r in rows[:-1]) == pytest.approx(rows[-1]["contribution"], abs=1e-9)
    yearly = analytics(server, store.synthetic_run, "returns", symbol="ACCOUNT", limit=1000)["returns_yearly"]["rows"]
    assert math.prod(1 + r["ret"] for r in yearly) - 1 == pytest.approx(rows[-1]["contribution"], abs=1e-9)
    dd = analytics(server, store.synthetic_run, "drawdowns", worst=2, limit=1000)
    under = analytics(server, store.synthetic_run, "drawdowns", limit=1000, offset=0)["underwater"]
    assert dd["drawdowns_worst"]["total"] == 2
    deepest = min(r["underwater"] for r in under["rows"]) if under["total"] <= 1000 else None
    if deepest is not None:
        assert dd["drawdowns_worst"]["rows"][0]["depth"] == pytest.approx(deepest)
    assert all(r["depth"] < 0 for r in dd["drawdowns"]["rows"])


def test_tax_gains_are_the_trades_pnl(server: Server, store: Store) -> None:
    trades = get(server, f"/runs/{store.archive_run}/trades", limit=1000).json()["rows"]
    closed = sum(t["pnl"] for t in trades if t["exit_date"])
    tax = analytics(server, store.archive_run, "tax", method="hifo")
    assert tax["method"] == "hifo"
    methods = {m["method"]: m for m in tax["tax_methods"]["rows"]}
    assert set(methods) == {"fifo", "lifo", "hifo", "mintax"}
    # per-stock runs: one lot per trade, all costs in its basis, so every method realises the trades' P&L
    for m in methods.values():
        assert m["realised_gain"] == pytest.approx(closed, rel=1e-9, abs=1e-6)
    lots = tax["tax_lots"]["rows"]
    assert lots and {lot["term"] for lot in lots} <= {"short", "long"} and all(lot["symbol"] in store.archive_symbols for lot in lots)


def test_unknown_run_kind_and_parameters(server: Server, store: Store) -> None:
    is_problem(get(server, "/runs/no-such-run/analytics/returns"), 404)
    is_problem(get(server, f"/runs/{store.synthetic_run}/analytics/volatility"), 422)
    is_problem(get(server, f"/runs/{store.synthetic_run}/analytics/tax", method="average"), 422)
    is_problem(get(server, f"/runs/{store.synthetic_run}/analytics/drawdowns", worst=0), 422)
    is_problem(get(server, f"/runs/{store.synthetic_run}/analytics/returns", limit=0), 422)


def test_the_api_and_the_cli_agree(server: Server, store: Store) -> None:
    if store.backend != "postgresql":  # a second process cannot open the DuckDB file the service holds
        pytest.skip("the CLI reads the PostgreSQL store beside the service; the DuckDB file is locked by it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    p = subprocess.run([sys.executable, "-m", "adaptrade", "analytics", "drawdowns", store.synthetic_run, "--db", store.target,
                        "--format", "json", "--worst", "3"], env=env, capture_output=True, text=True, timeout=120, check=True)
    cli = {k: v for line in p.stdout.splitlines() if line.strip() for k, v in json.loads(line).items()}
    api = analytics(server, store.synthetic_run, "drawdowns", worst=3, limit=1000)
    assert len(api["drawdowns_worst"]["rows"]) == len(cli["drawdowns_worst"]) == 3
    for mine, theirs in zip(api["drawdowns_worst"]["rows"], cli["drawdowns_worst"]):  # the CLI's JSON keeps 10 digits
        assert {k: v for k, v in mine.items() if k != "depth"} == {k: v for k, v in theirs.items() if k != "depth"}
        assert mine["depth"] == pytest.approx(theirs["depth"], abs=1e-9)
    assert [r["depth"] for r in api["drawdowns"]["rows"]] == pytest.approx([r["depth"] for r in cli["drawdowns"]], abs=1e-9)
