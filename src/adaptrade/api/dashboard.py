"""GET / (the dashboard: one HTML page, plotly from the installed plotly package, no build step),
its static files, and /metrics (the monitoring registry's exposition)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter()
STATIC = Path(__file__).parent / "static"


@lru_cache(maxsize=1)
def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"))


@router.get("/static/dashboard.js", include_in_schema=False)
def dashboard_js() -> FileResponse:
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript")


@router.get("/static/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(request.app.state.service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
