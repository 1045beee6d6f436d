"""The service paging its own alerts (a job failed, a portfolio account past the drawdown limit or with its
breaker tripped) through the direct PagerDuty notifier, for teams that run no Alertmanager (setting
`pagerduty_direct`). With Alertmanager, leave it off: the Prometheus rules page the same conditions.

Pages go out on one background thread, so a slow or failing Events API (retries with backoff) never holds up
a request or a job; each page is also recorded in the alerts table as source `pagerduty`."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from adaptrade.errors import AdaptradeError

log = logging.getLogger("adaptrade.api")
COMPONENTS = {"AdaptradeJobFailed": "jobs", "AdaptradeDrawdownPastLimit": "risk", "AdaptradeCircuitBreakerTripped": "risk"}


class ServicePager:
    """Triggers (firing) and resolves (resolved) one PagerDuty incident per service alert id, in order, off the caller's thread."""

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._run, name="adaptrade-pager", daemon=True)
        self._thread.start()

    @classmethod
    def from_service(cls, settings: Any, store: Any, bus: Any) -> ServicePager:
        """A pager with the notifier of the settings (ConfigError without a routing key), recording into the service's store and stream."""
        from adaptrade.api.alerts import pagerduty_recorder
        from adaptrade.monitoring.pagerduty import PagerDutyNotifier

        return cls(PagerDutyNotifier.from_settings(settings, record=pagerduty_recorder(store, bus)))

    def page(self, alert: dict[str, Any]) -> None:
        """Queue the page of one recorded service alert (dropped with a log line when 1,000 are already waiting)."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            log.error("PagerDuty page of %s dropped: 1000 pages are waiting", alert.get("id"))

    def _run(self) -> None:
        from adaptrade.monitoring.pagerduty import SEVERITIES, dedup_key

        while (alert := self._queue.get()) is not None:
            key = dedup_key(*str(alert["id"]).split(":"))
            try:
                if alert.get("state") == "resolved":
                    self.notifier.resolve(key)
                else:
                    details = {k: v for k, v in (("run", alert.get("run_id")), ("job_id", alert.get("job_id"))) if v}
                    sev = alert.get("severity") if alert.get("severity") in SEVERITIES else "error"
                    self.notifier.trigger(key, f"{alert['name']}: {alert.get('summary') or alert['name']}", sev,
                                          component=COMPONENTS.get(alert["name"]), group=alert.get("run_id") or alert.get("job_id"),
                                          event_class=alert["name"], details=details or None)
            except AdaptradeError as exc:  # every retry failed or PagerDuty refused it: recorded as delivery failed
                log.error("PagerDuty page of %s failed: %s", alert["id"], exc.describe())
            except Exception:  # noqa: BLE001  a bug here must not stop later pages
                log.exception("PagerDuty page of %s failed", alert["id"])
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued page was sent or given up (True), at most `timeout` seconds."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)
