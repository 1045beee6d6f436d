"""Read endpoints through the real HTTP stack (uvicorn) against real stores of real runs: a DuckDB file and a
PostgreSQL database (the `store` fixture is parametrized over both)."""

from __future__ import annotations

import math

import pytest
import requests

from tests.api.conftest import Server, Store

pytestmark = pytest.mark.service
API = "/api/v1"


def get(server: Server, path: str, **params: object) -> requests.Response:
    return requests.get(server.url + API + path, params=params, timeout=10)


def is_problem(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"] and body["title"]
    return body


def test_health_and_ready(server: Server) -> None:
    assert get(server, "/health").json()["status"] == "ok"
    r = get(server, "/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True and body["store"]["ok"] and body["redis"]["ok"]


def test_runs_list_filters_and_pages(server: Server, store: Store) -> None:
    body = get(server, "/runs", limit=1000).json()
    ids = [r["id"] for r in body["runs"]]  # other tests add runs (jobs): check the fixture's two within them
    total = body["page"]["total"]
    assert total == len(ids) >= 2
    assert ids.index(store.archive_run) < ids.index(store.synthetic_run)  # newest first
    syn = get(server, "/runs", source="synthetic", limit=1000).json()
    assert store.synthetic_run in [r["id"] for r in syn["runs"]] and store.archive_run not in [r["id"] for r in syn["runs"]]
    assert {r["source"] for r in syn["runs"]} == {"synthetic"}
    mine = next(r for r in syn["runs"] if r["id"] == store.synthetic_run)
    assert mine["stocks"] == 8 and mine["mode"] == "per-stock"
    assert get(server, "/runs", source="archive").json()["runs"][0]["id"] == store.archive_run
    port = get(server, "/runs", mode="portfolio", limit=1000).json()["runs"]  # portfolio jobs of test_jobs may be there
    assert {r["mode"] for r in port} <= {"portfolio"} and not {store.synthetic_run, store.archive_run} & {r["id"] for r in port}
    assert get(server, "/runs", status="complete").json()["page"]["total"] == total
    day = store.synthetic_run[:8]
    assert get(server, "/runs", date=f"{day[:4]}-{day[4:6]}-{day[6:]}").json()["page"]["total"] >= 2
    assert get(server, "/runs", date="1999-01-01").json()["page"]["total"] == 0
    page = get(server, "/runs", offset=1, limit=1).json()
    assert page["page"] == {"offset": 1, "limit": 1, "total": total} and [r["id"] for r in page["runs"]] == ids[1:2]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"mode": "both"},
                                    {"source": "x"}, {"date": "2024-13-40"}, {"date": "yesterday"}, {"limit": "many"}])
def test_bad_parameters_are_422_problems(server: Server, params: dict) -> None:
    is_problem(get(server, "/runs", **params), 422)


def test_run_detail_and_counts(server: Server, store: Store) -> None:
    d = get(server, f"/runs/{store.synthetic_run}").json()
    assert d["id"] == store.synthetic_run and d["counts"]["stocks"] == 8
    assert d["counts"]["trades"] > 0 and d["settings"]["source"] == "synthetic"
    assert d["summary"]["aggregate"]["stocks"] == 8 if "stocks" in d["summary"]["aggregate"] else True
    assert "commission_bps" in str(d["settings"])  # costs are stored with the run and shown


def test_unknown_ids_and_symbols_are_404(server: Server, store: Store) -> None:
    is_problem(get(server, "/runs/no-such-run"), 404)
    is_problem(get(server, "/runs/no-such-run/stocks"), 404)
    assert "symbol 'ZZZZ' is not in run" in is_problem(get(server, f"/runs/{store.synthetic_run}/trades", symbol="ZZZZ"), 404)["detail"]
    assert "unknown run id" in is_problem(get(server, "/runs/no-such-run/params", symbol="AAPL"), 404)["detail"]
    is_problem(get(server, "/universe/ZZZZQ"), 404)
    is_problem(get(server, "/scores/ZZZZQ/history"), 404)
    is_problem(get(server, "/backtests/job-unknown"), 404)
    is_problem(requests.get(server.url + API + "/nothing-here", timeout=5), 404)


@pytest.mark.parametrize("table", ["stocks", "trades", "params", "orders", "fills"])
def test_run_tables_paginate_and_filter(server: Server, store: Store, table: str) -> None:
    full = get(server, f"/runs/{store.synthetic_run}/{table}", limit=1000).json()
    assert full["table"] == table and full["page"]["total"] == len(full["rows"])
    if table in ("orders", "fills"):  # per-stock runs keep no orders/fills tables: empty, not an error
        assert full["rows"] == []
        return
    assert full["rows"] and set(full["rows"][0]) == set(full["columns"])
    assert "symbol" in full["columns"]
    two = get(server, f"/runs/{store.synthetic_run}/{table}", offset=1, limit=2).json()
    assert two["rows"] == full["rows"][1:3] and two["page"]["total"] == full["page"]["total"]
    past = get(server, f"/runs/{store.synthetic_run}/{table}", offset=10**6, limit=5).json()  # past the end: empty, total kept
    assert past["rows"] == [] and past["page"]["total"] == full["page"]["total"]
    sym = full["rows"][0]["symbol"]
    one = get(server, f"/runs/{store.synthetic_run}/{table}", symbol=sym.lower(), limit=1000).json()
    assert one["symbol"] == sym and one["rows"] and {r["symbol"] for r in one["rows"]} == {sym}
    assert one["page"]["total"] == sum(r["symbol"] == sym for r in full["rows"])


def test_finished_run_pages_are_cached_and_equal_to_the_store(server: Server, store: Store) -> None:
    """A page of a finished run is served from the page cache the second time, byte for byte what the store
    gave; a new finished time (a re-save) is a new key, so a stale page is never served."""
    pages = server.service.pages
    path = f"/runs/{store.synthetic_run}/trades"
    first = get(server, path, offset=3, limit=7, symbol=None)
    hits = pages.hits
    second = get(server, path, offset=3, limit=7)
    assert second.status_code == 200 and second.content == first.content and pages.hits == hits + 1
    finished = server.service.store.finished_at(store.synthetic_run)
    assert finished is not None
    assert pages.get((store.synthetic_run, finished, "trades", None, 3, 7)) == first.content
    assert pages.get((store.synthetic_run, "another finished time", "trades", None, 3, 7)) is None
    assert server.service.store.finished_at("no-such-run") is None
    is_problem(get(server, "/runs/no-such-run/trades"), 404)  # unknown runs are never cached


def test_stocks_match_the_store(server: Server, store: Store) -> None:
    run = server.service.store.load_run(store.synthetic_run)  # through the service's own connection, not a second one
    rows = get(server, f"/runs/{store.synthetic_run}/stocks").json()["rows"]
    assert [r["symbol"] for r in rows] == run["stocks"]["symbol"].tolist()
    for r, (_, s) in zip(rows, run["stocks"].iterrows()):
        for col in ("total_return", "sharpe", "buy_hold_return"):
            v = s[col]
            assert (r[col] is None and not math.isfinite(v)) or r[col] == pytest.approx(float(v))


def _json(a: object) -> list:
    """An array as the API writes it: NaN as null."""
    return [float(v) if math.isfinite(v) else None for v in a]  # type: ignore[attr-defined]


def test_equity_is_bar_by_bar_as_the_report_draws(server: Server, store: Store, made_runs: tuple) -> None:
    import numpy as np

    from adaptrade.reports.html import _drawdown, _normalised, mean_curves

    syn, _ = made_runs
    e = get(server, f"/runs/{store.synthetic_run}/equity", limit=10000).json()
    assert e["basis"] == "bar_by_bar" and e["view"] == "mean_of_stocks" and e["benchmark_symbol"] == syn.benchmark_symbol
    strat, bh, bench = mean_curves(*_normalised(syn))  # report.html's average curves of the same result
    dates = np.datetime_as_string(syn.output.bars.dates, unit="D").tolist()
    assert e["page"]["total"] == len(dates) == 1260 and [p["date"] for p in e["points"]] == dates
    assert [p["equity"] for p in e["points"]] == _json(strat)
    assert [p["buy_hold"] for p in e["points"]] == _json(bh)
    assert [p["benchmark"] for p in e["points"]] == _json(bench)
    assert [p["drawdown"] for p in e["points"]] == _json(_drawdown(strat))
    assert min(p["drawdown"] for p in e["points"]) < -0.01 and e["points"][0]["equity"] == 1.0
    page = get(server, f"/runs/{store.synthetic_run}/equity", offset=100, limit=50).json()
    assert page["page"] == {"offset": 100, "limit": 50, "total": 1260} and page["points"] == e["points"][100:150]
    assert e["benchmark_return"] is not None and e["buy_hold_return"] is not None  # the end returns, as before
    # one stock: its stored equity and the benchmark normalised at its first bar, as the report's figure of that stock
    i = 2
    sym = syn.output.bars.symbols[i]
    one = get(server, f"/runs/{store.synthetic_run}/equity", symbol=sym.lower(), limit=10000).json()
    s_strat, _, s_bench = (a[i] for a in _normalised(syn))
    valid = syn.output.bars.valid[i]
    assert one["symbol"] == sym and one["view"] == "stock" and one["basis"] == "bar_by_bar"
    assert [p["equity"] for p in one["points"]] == _json(s_strat[valid])
    assert [p["benchmark"] for p in one["points"]] == _json(s_bench[valid])
    assert [p["drawdown"] for p in one["points"]] == _json(_drawdown(s_strat[valid]))
    assert {p["buy_hold"] for p in one["points"]} == {None}  # not stored per stock
    assert one["points"][-1]["equity"] == pytest.approx(1.0 + float(syn.stocks["total_return"].iloc[i]))


def test_a_run_stored_without_curves_shows_realised_equity(server: Server, store: Store, made_runs: tuple) -> None:
    """A run as stored before schema version 8 (no curves): the mean is realised at trade exits, as before."""
    from adaptrade.reports.files import summary

    syn, _ = made_runs
    rid = server.service.store.save_run(syn, summary(syn), extra={"curves": None})
    assert get(server, f"/runs/{rid}").json()["counts"]["curves"] == 0
    e = get(server, f"/runs/{rid}/equity").json()
    assert e["basis"] == "realised_at_exit" and e["view"] == "mean_of_stocks" and e["points"]
    dates = [p["date"] for p in e["points"]]
    assert dates == sorted(dates) and len(dates) < 1260
    trades = get(server, f"/runs/{rid}/trades", limit=1000).json()["rows"]
    closed = [t for t in trades if t["exit_date"]]
    # the last point is the mean over the stocks of the product of their closed trades' (1 + return)
    per = {s: 1.0 for s in store.symbols}
    for t in closed:
        per[t["symbol"]] *= 1 + t["return"]
    assert e["points"][-1]["equity"] == pytest.approx(sum(per.values()) / len(per))
    assert {(p["buy_hold"], p["benchmark"]) for p in e["points"]} == {(None, None)}
    assert all(p["drawdown"] <= 0 for p in e["points"])
    assert e["benchmark_return"] is not None and e["buy_hold_return"] is not None
    one = get(server, f"/runs/{rid}/equity", symbol=closed[0]["symbol"], limit=10000).json()  # its stored equity, no benchmark
    assert one["basis"] == "bar_by_bar" and len(one["points"]) == 1260
    assert one["points"][-1]["equity"] == pytest.approx(1.0 + next(float(r.total_return) for r in syn.stocks.itertuples()
                                                                   if r.symbol == closed[0]["symbol"]))
    assert {p["benchmark"] for p in one["points"]} == {None}


def test_portfolio_equity_is_the_account(server: Server, store: Store) -> None:
    from adaptrade.data.synthetic import generate, synthetic_benchmark
    from adaptrade.portfolio.engine import run_portfolio_backtest
    from adaptrade.portfolio.results import build_portfolio_result
    from adaptrade.reports.files import summary
    from adaptrade.risk.limits import RiskLimits
    from adaptrade.strategy.params import StrategyConfig

    bars = generate(["AAA", "BBB", "CCC", "DDD"], 600, seed=3)
    cfg = StrategyConfig()
    pr = build_portfolio_result(run_portfolio_backtest(bars, cfg, RiskLimits(kelly_fraction=0.0, max_position=0.5)),
                                synthetic_benchmark(bars.dates, 3), "^SYNTH-SPX", settings={"mode": "portfolio", "source": "synthetic"})
    rid = server.service.store.save_run(pr.result, summary(pr.result), extra={"orders": pr.orders, "fills": pr.fills,
                                                                              "account": pr.account})
    e = get(server, f"/runs/{rid}/equity", limit=10000).json()
    assert e["basis"] == "bar_by_bar" and e["view"] == "account" and e["page"]["total"] == 600
    account = server.service.store.load_run(rid)["account"]  # the run_account table as stored
    cash = pr.output.limits.initial_cash
    assert [p["equity"] for p in e["points"]] == [float(v) / cash for v in account["equity"]]
    assert [p["drawdown"] for p in e["points"]] == [float(v) for v in account["drawdown"]]
    assert [p["date"] for p in e["points"]] == account["date"].tolist()
    assert all(p["buy_hold"] is not None and p["benchmark"] is not None for p in e["points"])
    assert e["points"][0]["buy_hold"] == e["points"][0]["benchmark"] == 1.0 and e["points"][-1]["equity"] != 1.0


def test_universe_and_symbol(server: Server) -> None:
    u = get(server, "/universe").json()
    assert len(u["members"]) >= 100 and {"symbol", "name", "sector", "source"} <= set(u["members"][0])
    it = get(server, "/universe", sector="information technology").json()["members"]
    assert it and {m["sector"] for m in it} == {"Information Technology"} and len(it) < len(u["members"])
    is_problem(get(server, "/universe", sector="Nonsense"), 404)
    is_problem(get(server, "/universe", universe="sp500"), 422)
    a = get(server, "/universe/aapl").json()
    assert a["symbol"] == "AAPL" and a["has_data"] and "nasdaq100" in a["lists"]
    assert a["first_date"] < a["last_date"] and a["sessions"] > 2000


def test_scores(server: Server, store: Store) -> None:
    s = get(server, "/scores").json()["scores"]
    assert {x["symbol"] for x in s} == set(store.symbols)
    assert [x["score"] for x in s] == sorted((x["score"] for x in s), reverse=True)
    assert get(server, "/scores", source="archive").json()["scores"] == []
    assert len(get(server, "/scores", source="synthetic").json()["scores"]) == len(store.symbols)
    h = get(server, f"/scores/{store.symbols[0]}/history").json()
    assert h["scores"][0]["run_id"] == store.synthetic_run and h["scores"][0]["cycle"] == 1


def test_oversize_body_is_413(server: Server) -> None:
    r = requests.post(server.url + API + "/backtests", data=b"{" + b" " * 70_000 + b"}",
                      headers={"Content-Type": "application/json", "Authorization": "Bearer x"}, timeout=5)
    is_problem(r, 413)

    def chunks():  # no Content-Length: the limit counts the streamed body
        for _ in range(70):
            yield b" " * 1000

    r = requests.post(server.url + API + "/backtests", data=chunks(), headers={"Content-Type": "application/json"}, timeout=5)
    is_problem(r, 413)


def test_metrics_export_api_latency(server: Server, store: Store) -> None:
    get(server, f"/runs/{store.synthetic_run}")
    get(server, "/runs/no-such-run")
    text = requests.get(server.url + "/metrics", timeout=5).text
    assert 'adaptrade_api_requests_total{code="200",method="GET",route="/api/v1/runs/{run_id}"}' in text
    assert 'adaptrade_api_requests_total{code="404",method="GET",route="/api/v1/runs/{run_id}"}' in text
    assert 'adaptrade_api_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/runs/{run_id}"}' in text
    assert "adaptrade_alert_drawdown_limit_ratio" in text


def test_openapi_documents_every_field(server: Server) -> None:
    doc = requests.get(server.url + API + "/openapi.json", timeout=5).json()
    paths = set(doc["paths"])
    for p in ("/api/v1/health", "/api/v1/ready", "/api/v1/universe", "/api/v1/universe/{symbol}", "/api/v1/scores",
              "/api/v1/scores/{symbol}/history", "/api/v1/runs", "/api/v1/runs/{run_id}", "/api/v1/backtests",
              "/api/v1/backtests/{job_id}", *(f"/api/v1/runs/{{run_id}}/{t}" for t in ("stocks", "trades", "equity", "params", "orders", "fills"))):
        assert p in paths, p
    undocumented = [f"{name}.{field}" for name, schema in doc["components"]["schemas"].items()
                    if name not in ("HTTPValidationError", "ValidationError") and not name.startswith("ValidationError")
                    for field, spec in schema.get("properties", {}).items() if not spec.get("description")]
    assert undocumented == []
