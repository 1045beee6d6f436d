"""Every ADAPTRADE_* variable the deployment sets (Dockerfile, compose and its env-file examples, the
rendered manifests) is a field adaptrade.settings.Settings reads (adaptrade refuses unknown ones at start),
and every setting a deployed process needs is set."""

from __future__ import annotations

import re

import pytest
import yaml

from adaptrade.settings import Settings
from tests.deploy.tools import DEPLOY, K8S, OVERLAYS, in_ci, kustomize_build

NAME = re.compile(r"\bADAPTRADE_[A-Z0-9_]+\b")
# Fields the deployment needs that other branches add: the variable -> the issue/branch that adds the field.
PENDING = {"ADAPTRADE_API_TOKEN": "issue 14 (branch i14b)", "ADAPTRADE_REDIS_URL": "issue 14 (branch i14b)",
           "ADAPTRADE_DB_URL": "issue 13 (branch i13)"}
# What each deployed process must have set: the API binds 0.0.0.0 (needs the token), everything keeps
# runs in PostgreSQL, the API and paper trader talk to Redis, the nightly cycle runs on the Dask cluster.
NEEDS = {"api": {"ADAPTRADE_API_TOKEN", "ADAPTRADE_DB_URL", "ADAPTRADE_REDIS_URL", "ADAPTRADE_DATA_DIR"},
         "paper": {"ADAPTRADE_DB_URL", "ADAPTRADE_REDIS_URL", "ADAPTRADE_DATA_DIR"},
         "cycle": {"ADAPTRADE_DB_URL", "ADAPTRADE_SCHEDULER", "ADAPTRADE_DATA_DIR"}}


def named_in_deploy() -> dict[str, set[str]]:
    """Variable -> files naming it (comments included: a documented variable must exist too)."""
    files = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", DEPLOY / ".env.example", DEPLOY / "adaptrade.env.example",
             *sorted(K8S.rglob("*.yaml"))]
    out: dict[str, set[str]] = {}
    for f in files:
        for name in NAME.findall(f.read_text()):
            out.setdefault(name, set()).add(str(f.relative_to(DEPLOY)))
    return out


def is_field(name: str) -> bool:
    return name[len("ADAPTRADE_"):].lower() in Settings.model_fields


def test_every_variable_is_a_setting() -> None:
    named = named_in_deploy()
    assert {"ADAPTRADE_DATA_DIR", "ADAPTRADE_SCHEDULER", "ADAPTRADE_DB_URL"} <= set(named)  # the scan finds them
    unknown = {n: sorted(f) for n, f in named.items() if not is_field(n) and n not in PENDING}
    assert unknown == {}, f"not fields of adaptrade.settings.Settings: {unknown}"
    missing = {n: PENDING[n] for n in named if n in PENDING and not is_field(n)}
    if missing:
        msg = "settings the deployment uses are not fields on this branch yet: " + ", ".join(
            f"{n} (added by {who})" for n, who in sorted(missing.items()))
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)


def test_a_misspelt_variable_would_be_caught() -> None:
    assert not is_field("ADAPTRADE_DATA_DIRS") and is_field("ADAPTRADE_DATA_DIR")


def compose_env() -> dict[str, set[str]]:
    """Variables each compose service gets: its environment (after the x-adaptrade merge) and its env files."""
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    out = {}
    for name, svc in doc["services"].items():
        names = set(svc.get("environment", {}))
        for env_file in svc.get("env_file", []):
            text = (DEPLOY / f"{env_file}.example").read_text()
            names |= {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}
        out[name] = names
    return out


def test_compose_sets_what_each_process_needs() -> None:
    env = compose_env()
    for service, needs in (("api", NEEDS["api"]), ("paper", NEEDS["paper"])):
        assert needs <= env[service], (service, needs - env[service])
    assert "ADAPTRADE_SCHEDULER" in env["api"]  # sweeps started from the API host reach the compose cluster


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_set_what_each_process_needs(overlay: str) -> None:
    docs = kustomize_build(K8S / "overlays" / overlay)
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "adaptrade-config")
    containers = {}
    for d in docs:
        if d["kind"] == "Deployment":
            containers[d["metadata"]["name"]] = d["spec"]["template"]["spec"]["containers"][0]
        elif d["kind"] == "CronJob":
            containers[d["metadata"]["name"]] = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]

    def names(c: dict) -> set[str]:
        got = {e["name"] for e in c.get("env", [])}
        if any(ref.get("configMapRef", {}).get("name") == "adaptrade-config" for ref in c.get("envFrom", [])):
            got |= set(config)
        return got

    for deployment, process in (("adaptrade-api", "api"), ("adaptrade-paper", "paper"), ("adaptrade-cycle", "cycle")):
        got = names(containers[deployment])
        assert NEEDS[process] <= got, (overlay, deployment, NEEDS[process] - got)
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for c in containers.values() for e in c.get("env", [])
               if "secretKeyRef" in e.get("valueFrom", {})}
    assert secrets == {"api-token", "db-url"}  # what docs/deploy.md tells you to put in adaptrade-secrets
