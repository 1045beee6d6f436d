"""deploy/k8s: both overlays rendered by the real kustomize (kubectl kustomize) and every object validated
against the Kubernetes OpenAPI schemas by kubernetes-validate (strict); the DaskCluster against a schema
written from the dask-kubernetes CRD, its pod and service specs by kubernetes-validate. Then what the
deployment must hold: one paper trader, probes, limits, disruption budgets, the nightly cycle, network policy."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.tools import K8S, OVERLAYS, kustomize_build

K8S_VERSION = "1.30.0"  # validate against an older API too than the package default: what clusters run today
DASK_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "daskcluster-v1.json").read_text())


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize_build(K8S / "overlays" / request.param)


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    out = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            out[d["metadata"]["name"]] = d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            out[d["metadata"]["name"]] = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return out


def test_every_object_validates(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "CronJob", "PodDisruptionBudget", "NetworkPolicy", "StatefulSet",
            "Lease", "Namespace"} <= kinds
    for d in docs:
        if d["kind"] == "DaskCluster":
            continue  # no OpenAPI schema in kubernetes-validate: see test_daskcluster_validates
        for version in (K8S_VERSION, kubernetes_validate.utils.latest_version()):
            kubernetes_validate.validate(d, version, strict=True)
        assert d["metadata"].get("namespace") in (None, f"adaptrade{'-dev' if overlay == 'dev' else ''}") or d["kind"] == "Namespace"
    assert not any(d["kind"] == "Secret" for d in docs)  # secrets are created out of band, never committed


def test_validation_is_real() -> None:
    """kubernetes-validate rejects a misspelt field and a wrong type (so the loop above can fail)."""
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "imag": "i"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_daskcluster_validates() -> None:
    docs = kustomize_build(K8S / "overlays" / "prod")
    clusters = by_kind(docs, "DaskCluster")
    assert list(clusters) == ["adaptrade-research"]
    dc = clusters["adaptrade-research"]
    jsonschema.validate(dc, DASK_SCHEMA)
    for role in ("worker", "scheduler"):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"dc-{role}"}, "spec": dc["spec"][role]["spec"]}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dc"}, "spec": dc["spec"]["scheduler"]["service"]}
    kubernetes_validate.validate(svc, K8S_VERSION, strict=True)
    assert svc["spec"]["selector"]["dask.org/cluster-name"] == "adaptrade-research"
    with pytest.raises(jsonschema.ValidationError):  # the schema is real
        jsonschema.validate({**dc, "spec": {"worker": dc["spec"]["worker"]}}, DASK_SCHEMA)
    assert "daskcluster" not in json.dumps(kustomize_build(K8S / "overlays" / "dev")).lower()


def test_one_paper_trader_with_a_lease(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    paper = by_kind(docs, "Deployment")["adaptrade-paper"]
    assert paper["spec"]["replicas"] == 1 and paper["spec"]["strategy"] == {"type": "Recreate"}
    assert paper["spec"]["template"]["spec"]["containers"][0]["args"] == ["paper", "run"]
    assert "adaptrade-paper" in by_kind(docs, "Lease")
    role = by_kind(docs, "Role")["adaptrade-paper-lease"]
    assert role["rules"][0]["resourceNames"] == ["adaptrade-paper"]
    assert {"get", "update"} <= set(role["rules"][0]["verbs"])  # what live/lease.py calls on an existing Lease
    binding = by_kind(docs, "RoleBinding")["adaptrade-paper-lease"]
    assert binding["roleRef"]["name"] == "adaptrade-paper-lease"
    sa = paper["spec"]["template"]["spec"]["serviceAccountName"]
    assert {"kind": "ServiceAccount", "name": sa} in [{k: v for k, v in s.items() if k != "namespace"} for s in binding["subjects"]]
    env = {e["name"]: e.get("value") for e in paper["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ADAPTRADE_PAPER_KUBE_LEASE"] == "adaptrade-paper" and "POD_NAME" in env  # the lease the trader takes


def test_probes_limits_and_budgets(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    for name, spec in pod_specs(docs).items():
        for c in spec["containers"]:
            res = c["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), name
            if name != "adaptrade-cycle":  # a Job has no probes
                assert "livenessProbe" in c and "readinessProbe" in c, name
    api = by_kind(docs, "Deployment")["adaptrade-api"]
    c = api["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert api["spec"]["replicas"] == (1 if overlay == "dev" else 3)
    assert set(by_kind(docs, "PodDisruptionBudget")) == {"adaptrade-api", "dask-worker"}
    images = {c["image"] for spec in pod_specs(docs).values() for c in spec["containers"] if "adaptrade" in c["image"]}
    assert images == ({"adaptrade:dev"} if overlay == "dev" else {"registry.example.com/adaptrade:0.1.0"})


def test_nightly_cycle_on_the_dask_cluster(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    cron = by_kind(docs, "CronJob")["adaptrade-cycle"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    c = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][0] == "cycle"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["ADAPTRADE_SCHEDULER"] == "tcp://dask-scheduler:8786"
    assert "dask-scheduler" in by_kind(docs, "Service")


def test_only_store_clients_reach_postgres_and_redis(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    labels = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            labels[d["metadata"]["name"]] = d["spec"]["template"]["metadata"]["labels"]
        elif d["kind"] == "CronJob":
            labels[d["metadata"]["name"]] = d["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    for name, target, port in (("postgres-clients", "postgres", 5432), ("redis-clients", "redis", 6379)):
        pol = policies[name]["spec"]
        assert pol["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": target}
        assert pol["policyTypes"] == ["Ingress"] and len(pol["ingress"]) == 1
        rule = pol["ingress"][0]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        allowed = rule["from"][0]["podSelector"]["matchLabels"]
        admitted = {n for n, lab in labels.items() if allowed.items() <= lab.items()}
        assert admitted == {"adaptrade-api", "adaptrade-paper", "adaptrade-cycle"}, (name, admitted)
