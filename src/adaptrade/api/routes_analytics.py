"""GET /runs/{run_id}/analytics/{returns|attribution|tax|drawdowns}: the analytics of `adaptrade analytics`
(adaptrade.analytics) of a stored run, read through the service's store connection, each table paginated."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from adaptrade.api.models import Problem
from adaptrade.api.models_analytics import (
    Analytics,
    AttributionAnalytics,
    DrawdownAnalytics,
    ReturnsAnalytics,
    TaxAnalytics,
)
from adaptrade.api.routes_read import LIMIT, OFFSET, RUN_ID
from adaptrade.api.security import require_read
from adaptrade.api.store_access import clean

router = APIRouter(prefix="/api/v1", responses={401: {"model": Problem}, 403: {"model": Problem}})
MODELS = {"returns": ReturnsAnalytics, "attribution": AttributionAnalytics, "tax": TaxAnalytics, "drawdowns": DrawdownAnalytics}
CACHE_SIZE = 16  # computed analytics kept (stored runs do not change; a page of a big table need not recompute)
_cache: OrderedDict[tuple[Any, ...], dict[str, pd.DataFrame]] = OrderedDict()
_cache_lock = threading.Lock()


def compute(svc: Any, run_id: str, kind: str, method: str, worst: int) -> tuple[dict[str, pd.DataFrame], bool]:
    """(the tables of one analytic, whether the run is a portfolio run); 404 for an unknown run,
    409 for a run without a stored equity curve (still running, or failed)."""
    from adaptrade.analytics import data, run

    if not svc.store.run_exists(run_id):
        raise HTTPException(404, f"unknown run id '{run_id}'")
    key = (svc.store.target, run_id, kind, method, worst)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit, "_portfolio" in hit
    stored = svc.store.load_run(run_id)
    if "equity" not in stored or len(stored["equity"]) == 0:
        raise HTTPException(409, f"run '{run_id}' has no stored equity curve to analyse (status {stored.get('status')})")
    rd = data.from_run(stored)
    try:
        s = svc.settings
        tabs = run.tables(rd, kind, method=method, rates=(s.tax_short_rate, s.tax_long_rate), worst=worst)
    finally:
        rd.con.close()
    if rd.portfolio:
        tabs = {**tabs, "_portfolio": pd.DataFrame()}
    with _cache_lock:
        _cache[key] = tabs
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return tabs, rd.portfolio


def _page(df: pd.DataFrame, symbol: str | None, offset: int, limit: int) -> dict[str, Any]:
    if symbol is not None and "symbol" in df.columns:
        df = df[df["symbol"] == symbol]
    part = df.iloc[offset:offset + limit]
    cols = [str(c) for c in part.columns]
    return {"total": len(df), "rows": [{c: clean(v) for c, v in zip(cols, r)} for r in part.itertuples(index=False, name=None)]}


@router.get("/runs/{run_id}/analytics/{kind}", response_model=Analytics, dependencies=[Depends(require_read)],
            responses={404: {"model": Problem, "description": "Unknown run id."},
                       409: {"model": Problem, "description": "The run has no stored equity curve (running or failed)."},
                       422: {"model": Problem, "description": "Unknown analytic or bad parameter."}},
            summary="Returns, attribution, tax lots or drawdowns of a stored run (as `adaptrade analytics KIND`).")
def run_analytics(request: Request, kind: Literal["returns", "attribution", "tax", "drawdowns"], run_id: str = RUN_ID,
                  symbol: str | None = Query(None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.^\-]+$",
                                             description="Only this symbol's rows (tables with a symbol column; ACCOUNT for the account)."),
                  method: Literal["fifo", "lifo", "hifo", "mintax"] = Query("fifo", description="tax: lot method of tax_lots and tax_summary."),
                  worst: int = Query(5, ge=1, le=100, description="drawdowns: how many of the deepest episodes drawdowns_worst lists."),
                  offset: int = OFFSET, limit: int = LIMIT) -> Any:
    svc = request.app.state.service
    tabs, portfolio = compute(svc, run_id, kind, method if kind == "tax" else "fifo", worst if kind == "drawdowns" else 5)
    sym = symbol.upper() if symbol is not None else None
    body: dict[str, Any] = {"run_id": run_id, "kind": kind, "basis": "portfolio_account" if portfolio else "equal_weight_book",
                            "symbol": sym, "offset": offset, "limit": limit,
                            **{name: _page(df, sym, offset, limit) for name, df in tabs.items() if not name.startswith("_")}}
    if kind == "tax":
        body["method"] = method
    return MODELS[kind](**body)
