"""Models of GET /alerts and of Alertmanager's webhook payload (POST /alerts/webhook, version 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["firing", "resolved"]


class Alert(BaseModel):
    id: str = Field(..., description="Alert key: service:NAME:SUBJECT for the service's own, alertmanager:FINGERPRINT for Prometheus', "
                                     "pagerduty:DEDUP_KEY for the direct PagerDuty notifier's pages.")
    name: str = Field(..., description="Alert name (the Prometheus rule names: AdaptradeJobFailed, AdaptradeDrawdownPastLimit, ...).")
    source: Literal["service", "alertmanager", "pagerduty"] = Field(..., description="Raised by this service, received from Alertmanager, "
                                                                              "or paged by the direct PagerDuty notifier.")
    state: State = Field(..., description="firing | resolved (the latest state received).")
    severity: str | None = Field(None, description="critical | error | warning (the rule's severity label).")
    summary: str | None = Field(None, description="One line on what happened.")
    labels: dict[str, str] = Field(..., description="Labels of the alert (run, account, job_id, ...).")
    run_id: str | None = Field(None, description="Run the alert is about, when there is one.")
    job_id: str | None = Field(None, description="Backtest job the alert is about, when there is one.")
    started: str | None = Field(None, description="When it first fired (UTC, ISO 8601).")
    ended: str | None = Field(None, description="When it resolved (null while firing).")
    updated: str = Field(..., description="When this state was recorded (UTC, ISO 8601).")


class AlertList(BaseModel):
    firing: int = Field(..., description="Alerts firing now, in all (not only those listed).")
    alerts: list[Alert] = Field(..., description="Alerts, most recently updated first.")


class AmAlert(BaseModel):
    """One alert of an Alertmanager webhook notification."""

    model_config = ConfigDict(extra="ignore")
    status: State = Field(..., description="firing | resolved.")
    labels: dict[str, str] = Field(..., description="The alert's labels (alertname, severity, run, ...).")
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, ...")
    startsAt: str | None = Field(None, max_length=64, description="When it started firing (RFC 3339).")
    endsAt: str | None = Field(None, max_length=64, description="When it resolved (RFC 3339; 0001-01-01... while firing).")
    generatorURL: str | None = Field(None, max_length=2000, description="Link to the rule in Prometheus.")
    fingerprint: str | None = Field(None, max_length=64, description="Alertmanager's key of the alert (a hash of its labels).")


class AmWebhook(BaseModel):
    """Alertmanager's webhook_config payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""

    model_config = ConfigDict(extra="ignore")
    version: str = Field("4", max_length=8, description="Payload version (4).")
    groupKey: str | None = Field(None, max_length=2000, description="Key of the alert group.")
    status: State = Field(..., description="firing when any alert of the group fires, else resolved.")
    receiver: str | None = Field(None, max_length=200, description="Receiver name in the Alertmanager config.")
    alerts: list[AmAlert] = Field(..., description="The alerts of the notification (the body limit, api_max_body_bytes, bounds them).")


class WebhookAck(BaseModel):
    recorded: int = Field(..., description="Alerts recorded (inserted or updated) from this notification.")
