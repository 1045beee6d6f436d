"""Read endpoints: health, readiness, universe, scores, runs and their tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from adaptrade.api.models import (
    Dependency,
    Equity,
    EquityPoint,
    Health,
    IsoDate,
    PageInfo,
    Problem,
    Ready,
    RunDetail,
    RunList,
    RunRow,
    RunTable,
    Score,
    ScoreHistory,
    ScoreList,
    SymbolInfo,
    UniverseList,
    UniverseMember,
)
from adaptrade.api.security import require_read
from adaptrade.api.store_access import Page, RunFilters
from adaptrade.errors import AdaptradeError, StoreError

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown id or symbol."},
    422: {"model": Problem, "description": "Bad parameter."},
}
router = APIRouter(prefix="/api/v1", responses={401: {"model": Problem}, 403: {"model": Problem}})
read = [Depends(require_read)]
SYMBOL = PathParam(..., min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.^\-]+$", description="Ticker.")
RUN_ID = PathParam(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$", description="Run id.")
OFFSET = Query(0, ge=0, le=10**9, description="Index of the first row.")
LIMIT = Query(100, ge=1, le=1000, description="Most rows to return.")


def _svc(request: Request) -> Any:
    return request.app.state.service


@router.get("/health", response_model=Health, summary="Liveness: the process answers.")
def health() -> Health:
    from adaptrade import __version__

    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Ready, summary="Readiness: the store and Redis, each reported.",
            responses={503: {"model": Ready, "description": "A dependency is down (body says which)."}})
def ready(request: Request) -> Any:
    from fastapi.responses import JSONResponse

    from adaptrade.api.cache import check_redis
    from adaptrade.api.events import redacted

    svc = _svc(request)
    try:
        svc.store.ping()
        store = Dependency(ok=True, detail=f"run store {svc.store.path} answers")
    except StoreError as exc:
        store = Dependency(ok=False, detail=exc.describe())
    up = check_redis(svc)  # Redis back: send what waited, rebuild the cache from the store
    redis = Dependency(ok=up, detail=f"{redacted(svc.settings.redis_url)} {'answers' if up else 'does not answer'}")
    body = Ready(ready=store.ok and up, store=store, redis=redis, pending_events=svc.bus.pending)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


def _universe(svc: Any) -> Any:
    from adaptrade.universe.universe import NasdaqUniverse

    root = Path(svc.settings.data_dir)
    return NasdaqUniverse(root if root.exists() else None)


@router.get("/universe", response_model=UniverseList, dependencies=read, responses=ERRORS, summary="Universe members.")
def universe(request: Request,
             universe: Literal["nasdaq100", "extended"] = Query("nasdaq100", description="Which list."),
             sector: str | None = Query(None, max_length=100, description="Only this GICS sector (case-insensitive).")) -> UniverseList:
    u = _universe(_svc(request))
    table = u.table(universe)
    if sector is not None:
        match = [s for s in u.sectors() if s.lower() == sector.strip().lower()]
        if not match:
            raise HTTPException(404, f"unknown sector '{sector}' (known: {', '.join(u.sectors())})")
        table = table[table["sector"] == match[0]]
    members = [UniverseMember(symbol=str(r.symbol), name=str(r.name or ""), sector=str(r.sector or ""), source=str(r.source))
               for r in table.itertuples(index=False)]
    return UniverseList(universe=universe, sector=sector, members=members)


@router.get("/universe/{symbol}", response_model=SymbolInfo, dependencies=read, responses=ERRORS,
            summary="One symbol: lists, data coverage, latest quality score.")
def universe_symbol(request: Request, symbol: str = SYMBOL) -> SymbolInfo:
    svc = _svc(request)
    sym = symbol.upper()
    u = _universe(svc)
    table = u.extended()
    rows = table[table["symbol"] == sym]
    lists = (["nasdaq100"] if sym in set(u.nasdaq100()["symbol"]) else []) + (["extended"] if not rows.empty else [])
    if rows.empty:
        raise HTTPException(404, f"unknown symbol '{sym}'")
    row = rows.iloc[0]
    info: dict[str, Any] = {"has_data": False, "first_date": None, "last_date": None, "sessions": None}
    files = u._files()
    if sym in files:
        info["has_data"] = True
        try:
            from adaptrade.data.archive import read_symbol_file

            df = read_symbol_file(files[sym])
            if len(df):
                info.update(first_date=df.index[0].date().isoformat(), last_date=df.index[-1].date().isoformat(), sessions=len(df))
        except AdaptradeError:
            pass
    hist = svc.store.score_history(sym)
    latest = Score(**hist[-1]) if hist else None
    return SymbolInfo(symbol=sym, name=str(row["name"] or ""), sector=str(row["sector"] or ""), lists=lists,
                      latest_score=latest, **info)


@router.get("/scores", response_model=ScoreList, dependencies=read, responses=ERRORS, summary="Latest quality score per symbol (from the Redis cache when it holds the store's current scores).")
def scores(request: Request, source: Literal["synthetic", "archive"] | None = Query(None, description="Only scores of runs on this data source.")) -> ScoreList:
    from adaptrade.api.cache import latest_scores

    return ScoreList(source=source, scores=[Score(**r) for r in latest_scores(_svc(request), source)])


@router.get("/scores/{symbol}/history", response_model=ScoreHistory, dependencies=read, responses=ERRORS,
            summary="Every stored score of one symbol.")
def score_history(request: Request, symbol: str = SYMBOL) -> ScoreHistory:
    sym = symbol.upper()
    rows = _svc(request).store.score_history(sym)
    if not rows:
        raise HTTPException(404, f"no scores for symbol '{sym}'")
    return ScoreHistory(symbol=sym, scores=[Score(**r) for r in rows])


@router.get("/runs", response_model=RunList, dependencies=read, responses=ERRORS, summary="Stored runs, newest first.")
def runs(request: Request,
         source: Literal["synthetic", "archive"] | None = Query(None, description="Data source."),
         mode: Literal["per-stock", "portfolio", "paper"] | None = Query(None, description="Run mode: a backtest's per-stock or portfolio, or a paper session (`paper run --db`)."),
         status: Literal["complete", "partial"] | None = Query(None, description="Run status."),
         date: IsoDate | None = Query(None, description="UTC day the run was stored (YYYY-MM-DD)."),
         offset: int = OFFSET, limit: int = LIMIT) -> RunList:
    day = date.isoformat() if date is not None else None
    rows, total = _svc(request).store.list_runs(RunFilters(source, mode, status, day), Page(offset, limit))
    return RunList(page=PageInfo(offset=offset, limit=limit, total=total), runs=[RunRow(**r) for r in rows])


def _run(svc: Any, run_id: str) -> dict[str, Any]:
    run = svc.store.get_run(run_id)
    if run is None:
        raise HTTPException(404, f"unknown run id '{run_id}'")
    return run


@router.get("/runs/{run_id}", response_model=RunDetail, dependencies=read, responses=ERRORS, summary="One run.")
def run_detail(request: Request, run_id: str = RUN_ID) -> RunDetail:
    return RunDetail(**_run(_svc(request), run_id))


def _known(svc: Any, run_id: str) -> None:
    if not svc.store.run_exists(run_id):
        raise HTTPException(404, f"unknown run id '{run_id}'")


def _check_symbol(svc: Any, run_id: str, symbol: str | None) -> str | None:
    """The upper-cased symbol; 404 naming the run when it is unknown, else naming the symbol not in it."""
    if symbol is None:
        return None
    sym = symbol.upper()
    if not svc.store.has_symbol(run_id, sym):
        _known(svc, run_id)
        raise HTTPException(404, f"symbol '{sym}' is not in run '{run_id}'")
    return sym


def _table_route(table: str) -> Any:
    def page(svc: Any, run_id: str, symbol: str | None, offset: int, limit: int) -> Response:
        # a finished run's pages never change: served from the page cache, keyed by the run's finished time
        finished = svc.store.finished_at(run_id) if svc.pages.entries else None
        key = (run_id, finished, table, symbol.upper() if symbol else None, offset, limit) if finished is not None else None
        if key is not None and (body := svc.pages.get(key)) is not None:
            return Response(body, media_type="application/json")
        sym = _check_symbol(svc, run_id, symbol)
        cols, rows, total = svc.store.run_table(run_id, table, sym, Page(offset, limit))
        if not rows and sym is None:  # rows name their run: only an empty page needs the run looked up (404 when unknown)
            _known(svc, run_id)
        # the RunTable document, dumped straight to JSON: its rows are already JSON scalars (store_access.clean), and
        # building the model only to re-check and re-dump 100 x 20 values through the Scalar union cost ~1 ms a page
        doc = {"run_id": run_id, "table": table, "symbol": sym, "page": {"offset": offset, "limit": limit, "total": total},
               "columns": cols, "rows": rows}
        body = pydantic_core.to_json(doc)
        if key is not None:
            svc.pages.put(key, body)
        return Response(body, media_type="application/json")

    async def handler(request: Request, run_id: str = RUN_ID,
                      symbol: str | None = Query(None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.^\-]+$", description="Only this symbol."),
                      offset: int = OFFSET, limit: int = LIMIT) -> Response:
        return await run_in_threadpool(page, _svc(request), run_id, symbol, offset, limit)  # the store work in one worker thread

    handler.__name__ = f"run_{table}"
    return handler


for _t in ("stocks", "trades", "params", "orders", "fills"):
    router.add_api_route(f"/runs/{{run_id}}/{_t}", _table_route(_t), methods=["GET"], response_model=RunTable,
                         dependencies=read, responses=ERRORS, summary=f"One run's {_t} table, paginated.")


@router.get("/runs/{run_id}/equity", response_model=Equity, dependencies=read, responses=ERRORS,
            summary="Bar-by-bar equity (mean of normalised stocks, a portfolio run's account, or one stock) vs buy-and-hold vs the "
                    "benchmark, with its drawdown; runs stored before the curves were: realised equity at trade exits.")
def run_equity(request: Request, run_id: str = RUN_ID,
               symbol: str | None = Query(None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.^\-]+$", description="Only this symbol."),
               offset: int = OFFSET, limit: int = Query(1000, ge=1, le=10_000, description="Most points to return.")) -> Equity:
    from adaptrade.api.equity import equity_doc

    svc = _svc(request)
    _known(svc, run_id)
    sym = _check_symbol(svc, run_id, symbol)
    _, stocks, _ = svc.store.run_table(run_id, "stocks", sym, Page(0, 100_000))
    doc = equity_doc(svc.store, run_id, sym, [str(s["symbol"]) for s in stocks])

    def mean(col: str) -> float | None:
        vals = [s[col] for s in stocks if s.get(col) is not None]
        return float(sum(vals) / len(vals)) if vals else None

    points = doc.pop("points")
    return Equity(run_id=run_id, symbol=sym, page=PageInfo(offset=offset, limit=limit, total=len(points)),
                  points=[EquityPoint(**p) for p in points[offset:offset + limit]], strategy_return=mean("total_return"),
                  buy_hold_return=mean("buy_hold_return"), benchmark_return=mean("benchmark_return"), **doc)
