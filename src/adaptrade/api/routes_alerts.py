"""GET /alerts (recent alerts and their state, from the store) and POST /alerts/webhook (Alertmanager's
webhook receiver; needs the bearer token like every endpoint that changes state)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from adaptrade.api import alerts
from adaptrade.api.models import Problem
from adaptrade.api.models_alerts import Alert, AlertList, AmWebhook, WebhookAck
from adaptrade.api.security import require_read, require_write

router = APIRouter(prefix="/api/v1", responses={401: {"model": Problem}, 403: {"model": Problem}})


@router.get("/alerts", response_model=AlertList, dependencies=[Depends(require_read)], responses={422: {"model": Problem}},
            summary="Recent alerts (the service's own, Alertmanager's, direct PagerDuty pages) and their state.")
def list_alerts(request: Request, state: Literal["firing", "resolved"] | None = Query(None, description="Only alerts in this state."),
                source: Literal["service", "alertmanager", "pagerduty"] | None = Query(None, description="Only alerts from this source."),
                limit: int = Query(100, ge=1, le=1000, description="Most alerts to return.")) -> AlertList:
    rows, firing = request.app.state.service.store.list_alerts(state, source, limit)
    return AlertList(firing=firing, alerts=[Alert(**r) for r in rows])


@router.post("/alerts/webhook", response_model=WebhookAck, dependencies=[Depends(require_write)],
             responses={413: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem, "description": "The store is down (Alertmanager retries)."}},
             summary="Alertmanager webhook receiver: records each alert's firing/resolved state and publishes it on the stream.")
def alertmanager_webhook(body: AmWebhook, request: Request) -> WebhookAck:
    svc = request.app.state.service
    for a in body.alerts:
        alerts.record(svc, alerts.from_alertmanager(a), strict=True)
    return WebhookAck(recorded=len(body.alerts))
