"""Paper trading from the service: a session's positions and orders (read from its persisted files,
as `paper status` does; positions are cached in Redis, api/cache.py) and the kill switch (`paper stop`;
needs the bearer token like job endpoints)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from adaptrade.api.models import Problem
from adaptrade.api.models_paper import PaperKill, PaperOrder, PaperOrders, PaperPositions, PaperSession
from adaptrade.api.security import require_read, require_write

router = APIRouter(prefix="/api/v1/paper", responses={401: {"model": Problem, "description": "No bearer token."},
                                                     403: {"model": Problem, "description": "Wrong bearer token."},
                                                     404: {"model": Problem, "description": "No such paper session."},
                                                     422: {"model": Problem, "description": "Bad session name."}})
SESSION = Query("default", min_length=1, max_length=100, description="Paper session name (as `paper run --session`).")


def _view(request: Request, session: str) -> dict[str, Any]:
    """The session as `paper status` reads it; 404 when the paper folder has no such session."""
    from adaptrade.live.session_view import NoSession, session_view

    try:
        return session_view(session, request.app.state.service.settings.paper_dir)
    except NoSession:
        raise HTTPException(404, f"no paper session '{session}'") from None


def _session(v: dict[str, Any]) -> PaperSession:
    from adaptrade.live.session_view import session_header

    return PaperSession(**session_header(v))


def _order(o: dict[str, Any]) -> PaperOrder:
    from adaptrade.live.session_view import finite_number

    side = o.get("side")
    return PaperOrder(client_order_id=o["client_order_id"], symbol=o.get("symbol"),
                      side=None if side is None else ("buy" if side in (1, "buy") else "sell"), status=o["status"],
                      open=o["status"] in ("new", "partially_filled"), quantity=finite_number(o.get("quantity")),
                      notional=finite_number(o.get("notional")), filled_quantity=finite_number(o.get("filled_quantity")),
                      avg_fill_price=finite_number(o.get("avg_fill_price")), time_in_force=o.get("time_in_force"),
                      reason=o.get("reason"), created=o.get("created") or None, last_update=o.get("last_update"))


@router.get("/positions", response_model=PaperPositions, dependencies=[Depends(require_read)],
            summary="A paper session's cash and non-zero positions (its persisted broker book; a session not in this "
                    "service's paper folder: as its `paper run` process last cached them in Redis).")
def paper_positions(request: Request, session: str = SESSION) -> PaperPositions:
    from adaptrade.api.cache import paper_positions as positions

    doc = positions(request.app.state.service, session)
    if doc is None:
        raise HTTPException(404, f"no paper session '{session}'")
    return PaperPositions(**doc)


@router.get("/orders", response_model=PaperOrders, dependencies=[Depends(require_read)],
            summary="A paper session's orders by client order id (all, or only the open ones).")
def paper_orders(request: Request, session: str = SESSION,
                 open_only: bool = Query(False, alias="open", description="Only working orders (new, partially_filled).")) -> PaperOrders:
    v = _view(request, session)
    rows = v["open_orders"] if open_only else v["orders"]
    return PaperOrders(session=_session(v), orders=[_order(o) for o in rows])


@router.post("/kill", response_model=PaperKill, dependencies=[Depends(require_write)],
             summary="The kill switch (`adaptrade paper stop`): cancel the session's open orders; the loop sends no new ones and stops.")
def paper_kill(request: Request, session: str = SESSION) -> PaperKill:
    from adaptrade.live.session_view import kill_session

    settings = request.app.state.service.settings
    _view(request, session)  # 404 before any file is written
    return PaperKill(session=session, cancelled=kill_session(session, settings))
