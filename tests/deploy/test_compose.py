"""deploy/compose.yaml through Debian's `docker-compose config` (the real parser and schema), and the
stack it describes: every service, health checks, start order on health, volumes, env files kept out of git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.tools import DEPLOY, REPO, debian_tool

SERVICES = {"api", "paper", "dask-scheduler", "dask-worker", "postgres", "redis", "prometheus", "alertmanager", "grafana"}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`docker-compose config` of a copy of deploy/ whose env files are the examples (as a user would start)."""
    compose = debian_tool("docker-compose", "docker-compose")
    root = tmp_path_factory.mktemp("compose")
    shutil.copytree(DEPLOY, root / "deploy", ignore=shutil.ignore_patterns(".env", "adaptrade.env", "secrets"))
    for name in (".env", "adaptrade.env"):
        shutil.copy(DEPLOY / f"{name}.example", root / "deploy" / name)
    r = subprocess.run([compose, "-f", str(root / "deploy" / "compose.yaml"), "config"], cwd=root / "deploy",
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The check is real: an unknown service key fails `docker-compose config`."""
    compose = debian_tool("docker-compose", "docker-compose")
    (tmp_path / "compose.yaml").write_text("services:\n  api:\n    image: x\n    helthcheck: {}\n")
    r = subprocess.run([compose, "-f", str(tmp_path / "compose.yaml"), "config"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode != 0 and "helthcheck" in r.stderr


def test_every_service_is_there_with_a_health_check(config: dict) -> None:
    services = config["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        hc = svc.get("healthcheck", {})
        assert hc.get("test") and not hc.get("disable"), name
    assert services["api"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]  # the image's CMD
    assert "/api/v1/" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["paper"]["command"] == ["paper", "run"]
    assert services["dask-worker"]["deploy"]["replicas"] >= 2
    assert services["dask-worker"]["command"][0] == "tcp://dask-scheduler:8786"


def test_start_order_waits_for_health(config: dict) -> None:
    services = config["services"]
    for name in ("api", "paper"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
    assert services["paper"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["dask-worker"]["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_volumes_and_provisioning(config: dict) -> None:
    services = config["services"]
    assert {"state", "pgdata", "redisdata", "promdata", "grafanadata"} <= set(config["volumes"])
    # docker-compose 1.29 prints volumes as SOURCE:TARGET:MODE
    targets = {s: {v.split(":")[1]: v.split(":") for v in svc.get("volumes", [])} for s, svc in services.items()}
    assert targets["api"]["/data"][2] == "ro" and targets["api"]["/var/lib/adaptrade"][0] == "state"
    assert targets["paper"]["/var/lib/adaptrade"][0] == "state"
    assert targets["postgres"]["/var/lib/postgresql/data"][0] == "pgdata"
    assert targets["grafana"]["/var/lib/grafana/dashboards/adaptrade"][0].endswith("deploy/grafana/dashboards")
    assert targets["alertmanager"]["/etc/alertmanager/alertmanager.yml"][0].endswith("alertmanager/alertmanager.yml")
    assert targets["prometheus"]["/etc/prometheus/rules"][0].endswith("prometheus/rules")
    # the adaptrade containers get their own env file, not the compose passwords
    assert "POSTGRES_PASSWORD" not in services["api"]["environment"]
    assert "GRAFANA_ADMIN_PASSWORD" not in services["paper"]["environment"]


def test_compose_copies_of_the_monitoring_configs_differ_only_in_addresses() -> None:
    base = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    ours = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert ours["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert ours["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]
    assert ours["scrape_configs"][1]["static_configs"][0]["targets"] == ["paper:9101"]
    for cfg in (base, ours):
        cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = []
        for job in cfg["scrape_configs"]:
            job["static_configs"][0]["targets"] = []
    assert ours == base
    base = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    ours = yaml.safe_load((DEPLOY / "compose" / "grafana-datasource.yml").read_text())
    assert ours["datasources"][0].pop("url") == "http://prometheus:9090"
    base["datasources"][0].pop("url")
    assert ours == base


def test_secrets_stay_out_of_git() -> None:
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("deploy/.env", "deploy/adaptrade.env", "deploy/secrets/pagerduty_routing_key"):
        r = subprocess.run([git, "check-ignore", "-q", path], cwd=REPO, check=False)
        assert r.returncode == 0, f"{path} is not git-ignored"
    for path in ("deploy/.env.example", "deploy/adaptrade.env.example"):
        assert subprocess.run([git, "check-ignore", "-q", path], cwd=REPO, check=False).returncode == 1
    example = (DEPLOY / ".env.example").read_text() + (DEPLOY / "adaptrade.env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#") and any(w in line for w in ("PASSWORD", "TOKEN", "DB_URL")):
            assert "change-me" in line, line  # placeholders only
