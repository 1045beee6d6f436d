"""Alerts: the service's own (a job failed; a portfolio job's account past the drawdown limit or with
its circuit breaker tripped), those Alertmanager posts to the webhook, and the pages of the direct
PagerDuty notifier (`pagerduty_recorder`). Each is recorded in the store's `alerts` table (the record,
one row per alert at its latest state) and published on the event stream as kind `alert`."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from adaptrade.errors import StoreError

log = logging.getLogger("adaptrade.api")
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def service_alert(name: str, subject: str, severity: str, summary: str, *, state: str = "firing", run_id: str | None = None,
                  job_id: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The row of an alert raised by the service about `subject` (a job or run id)."""
    t = now()
    lab = {"alertname": name, "severity": severity, **({"run": run_id} if run_id else {}), **({"job_id": job_id} if job_id else {}),
           **(labels or {})}
    return {"id": f"service:{name}:{subject}", "name": name, "source": "service", "state": state, "severity": severity,
            "summary": summary[:2000], "labels": lab, "run_id": run_id, "job_id": job_id, "started": t,
            "ended": t if state == "resolved" else None, "updated": t}


def from_alertmanager(alert: Any) -> dict[str, Any]:
    """The row of one alert of an Alertmanager webhook payload (models_alerts.AmAlert)."""
    labels = dict(alert.labels)
    key = alert.fingerprint or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    ann = alert.annotations or {}
    ended = alert.endsAt if alert.status == "resolved" and alert.endsAt and alert.endsAt != ZERO_TIME else None
    return {"id": f"alertmanager:{key}", "name": labels.get("alertname", "unnamed"), "source": "alertmanager",
            "state": alert.status, "severity": labels.get("severity"), "summary": (ann.get("summary") or ann.get("description") or "")[:2000],
            "labels": labels, "run_id": labels.get("run"), "job_id": labels.get("job_id"), "started": alert.startsAt,
            "ended": ended or (now() if alert.status == "resolved" else None), "updated": now()}


def from_pagerduty(page: dict[str, Any]) -> dict[str, Any]:
    """The row of one direct PagerDuty event (monitoring.pagerduty's record): keyed by its dedup key, firing
    after a trigger or acknowledge, resolved after a resolve; whether PagerDuty got it is in the labels."""
    key, action = str(page["dedup_key"]), str(page["action"])
    details = page.get("details") or {}
    labels = {"dedup_key": key, "action": action, "delivery": "delivered" if page.get("delivered") else "failed",
              **{k: str(page[k]) for k in ("component", "group", "class") if page.get(k)}}
    if page.get("error"):
        labels["delivery_error"] = str(page["error"])[:500]
    if page.get("severity"):
        labels["severity"] = str(page["severity"])
    resolved = action == "resolve"
    run_id, job_id = details.get("run") or details.get("run_id"), details.get("job_id")
    return {"id": f"pagerduty:{key}", "name": str(page.get("class") or "PagerDutyPage"), "source": "pagerduty",
            "state": "resolved" if resolved else "firing", "severity": page.get("severity"),
            "summary": str(page.get("summary") or f"PagerDuty {action} of {key}")[:2000], "labels": labels,
            "run_id": str(run_id) if run_id else None, "job_id": str(job_id) if job_id else None,
            "started": page.get("started") or page.get("at"), "ended": page.get("at") if resolved else None, "updated": now()}


def pagerduty_recorder(store: Any, bus: Any) -> Callable[[dict[str, Any]], None]:
    """The `record` hook of a PagerDutyNotifier that stores each page in `store`'s alerts table and publishes it
    on `bus` (a StoreAccess and EventBus: the service's, or any process's own)."""
    holder = SimpleNamespace(store=store, bus=bus)

    def rec(page: dict[str, Any]) -> None:
        record(holder, from_pagerduty(page))

    return rec


def record(svc: Any, row: dict[str, Any], strict: bool = False) -> dict[str, Any]:
    """Store the alert and publish it on the stream. `strict`: a store failure is raised (the webhook
    answers 503 so Alertmanager retries); otherwise it is logged and the alert still published."""
    try:
        row = svc.store.record_alert(row)
    except StoreError as exc:
        if strict:
            raise
        log.error("alert %s not recorded: %s", row["id"], exc.describe())
    svc.bus.publish("alert", row)
    pager = getattr(svc, "pager", None)
    if pager is not None and row.get("source") == "service":  # setting pagerduty_direct: the service pages its own alerts
        pager.page(row)
    return row


def account_alerts(svc: Any, run_id: str, account: Any) -> list[dict[str, Any]]:
    """A portfolio run's account at its last bar: DrawdownPastLimit when its drawdown is past
    settings.alert_drawdown_limit, CircuitBreakerTripped when the breaker is on (as the Prometheus rules)."""
    if account is None or len(account) == 0:
        return []
    last = account.iloc[-1]
    out = []
    dd, limit = abs(float(last["drawdown"])), svc.settings.alert_drawdown_limit
    if dd > limit:
        out.append(record(svc, service_alert("AdaptradeDrawdownPastLimit", run_id, "critical",
                                             f"run {run_id}: account drawdown {dd:.1%} past the limit {limit:.1%}", run_id=run_id,
                                             labels={"account": "portfolio"})))
    if bool(last["breaker"]):
        out.append(record(svc, service_alert("AdaptradeCircuitBreakerTripped", run_id, "critical",
                                             f"run {run_id}: the drawdown circuit breaker is tripped at the last bar", run_id=run_id,
                                             labels={"account": "portfolio"})))
    return out
