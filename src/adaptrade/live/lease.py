"""Leader election on Kubernetes for the paper trader: a coordination.k8s.io/v1 Lease held and renewed
over the API server's plain HTTP API with the pod's service-account token, so two traders never trade at once."""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adaptrade.errors import ConfigError

SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")
GROUP = "/apis/coordination.k8s.io/v1"


class LeaseLost(ConfigError):
    """The cluster lease is held by another trader, or was not renewed in time: stop trading."""


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(t: datetime) -> str:
    """MicroTime as the API server writes it (RFC 3339, microseconds, Z)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(s: str | None) -> datetime | None:
    return None if not s else datetime.fromisoformat(s.replace("Z", "+00:00"))


class KubeLease:
    """One named Lease: acquire (create, take over an expired one, or keep our own), renew, release.
    Updates carry the resourceVersion read, so of two racing traders the API server lets exactly one win (409)."""

    def __init__(self, api: str, namespace: str, name: str, identity: str, duration: int = 30,
                 token: str | None = None, ca_file: str | None = None) -> None:
        self.url = f"{api.rstrip('/')}{GROUP}/namespaces/{namespace}/leases"
        self.name, self.identity, self.duration, self.token = name, identity, duration, token
        self._ctx = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._renewed = 0.0  # monotonic time of the last successful acquire/renew
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def in_cluster(cls, name: str, duration: int = 30) -> KubeLease:
        """The API server, namespace and token of the pod this runs in (the standard service-account mount)."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (SA / "token").exists():
            raise ConfigError("ADAPTRADE_PAPER_KUBE_LEASE is set but this is not a Kubernetes pod "
                              "(no KUBERNETES_SERVICE_HOST or service-account token)", field="paper_kube_lease")
        identity = os.environ.get("POD_NAME") or socket.gethostname()
        return cls(f"https://{host}:{port}", (SA / "namespace").read_text().strip(), name, identity, duration,
                   (SA / "token").read_text().strip(), str(SA / "ca.crt"))

    def _call(self, method: str, url: str, body: dict | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ctx) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    def _spec(self, old: dict[str, Any] | None) -> dict[str, Any]:
        now = _fmt(_now())
        mine = old is not None and old.get("holderIdentity") == self.identity
        transitions = int((old or {}).get("leaseTransitions") or 0) + (0 if mine or old is None else 1)
        return {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                "acquireTime": old["acquireTime"] if mine and old.get("acquireTime") else now,
                "renewTime": now, "leaseTransitions": transitions}

    def try_acquire(self) -> bool:
        """One round: True when this trader holds the lease afterwards."""
        code, lease = self._call("GET", f"{self.url}/{self.name}")
        if code == 404:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name}, "spec": self._spec(None)}
            code, _ = self._call("POST", self.url, body)
        elif code == 200:
            spec = lease.get("spec") or {}
            renew = _parse(spec.get("renewTime"))
            held_by = spec.get("holderIdentity")
            expired = renew is None or _now() > renew + timedelta(seconds=int(spec.get("leaseDurationSeconds") or self.duration))
            if held_by and held_by != self.identity and not expired:
                return False
            lease["spec"] = self._spec(spec)  # metadata keeps resourceVersion: a concurrent update gets 409
            code, _ = self._call("PUT", f"{self.url}/{self.name}", lease)
        if code in (200, 201):
            self._renewed = time.monotonic()
            return True
        if code in (404, 409):
            return False
        raise LeaseLost(f"Lease {self.name}: the API server answered {code} (RBAC: get/update on leases?)",
                        field="paper_kube_lease")

    def held(self) -> bool:
        """True while the last successful renewal is younger than the lease duration (minus a margin)."""
        return self._renewed > 0 and time.monotonic() - self._renewed < self.duration * 2 / 3

    def acquire(self, wait: float | None = None) -> None:
        """Take the lease (waiting up to `wait` s, default one lease duration) and renew it in the background."""
        deadline = time.monotonic() + (self.duration if wait is None else wait)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LeaseLost(f"Lease {self.name} is held by another paper trader; not trading", field="paper_kube_lease")
            time.sleep(min(1.0, self.duration / 10))
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="kube-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.duration / 3):
            try:
                if not self.try_acquire():
                    self._renewed = 0.0  # taken over: held() is False from now on
                    return
            except (OSError, LeaseLost):
                pass  # transient: held() turns False by itself once the renewals are too old

    def release(self) -> None:
        """Stop renewing and hand the lease back (holder cleared), so a successor need not wait for expiry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._renewed and self.held():
            code, lease = self._call("GET", f"{self.url}/{self.name}")
            if code == 200 and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"] = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
                self._call("PUT", f"{self.url}/{self.name}", lease)
        self._renewed = 0.0


class ClusterGuardedLease:
    """The session's file lease plus the cluster lease: acquire takes both; every heartbeat (one per
    session) stops the loop with LeaseLost when the cluster lease is no longer held."""

    def __init__(self, local: Any, kube: KubeLease) -> None:
        self.local, self.kube = local, kube

    def acquire(self, session: str) -> None:
        self.kube.acquire()
        try:
            self.local.acquire(session)
        except BaseException:
            self.kube.release()
            raise

    def beat(self, **fields: Any) -> None:
        if not self.kube.held():
            raise LeaseLost(f"lost Lease {self.kube.name} (not renewed in time or taken over); stopped trading",
                            field="paper_kube_lease")
        self.local.beat(**fields)

    def release(self) -> None:
        try:
            self.local.release()
        finally:
            self.kube.release()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.local, attr)


def with_cluster_lease(local: Any, settings: Any) -> Any:
    """`local` alone, or guarded by the cluster Lease named by ADAPTRADE_PAPER_KUBE_LEASE (docs/deploy.md)."""
    name = getattr(settings, "paper_kube_lease", None)
    if not name:
        return local
    return ClusterGuardedLease(local, KubeLease.in_cluster(name, settings.paper_lease_seconds))
