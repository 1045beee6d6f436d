"""deploy/prometheus and deploy/alertmanager, checked by the real promtool and amtool: the configs load,
every alert rule has a `promtool test rules` case and they pass, alerts route to PagerDuty, and the
rules name only metrics adaptrade exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import yaml

from adaptrade.monitoring.metrics import Metrics, exported_names
from adaptrade.monitoring.paper import PaperMetrics
from tests.monitoring.binaries import require
from tests.monitoring.promql import metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROM, RULES = DEPLOY / "prometheus" / "prometheus.yml", DEPLOY / "prometheus" / "rules" / "adaptrade.rules.yml"
RULE_TESTS, AM = DEPLOY / "prometheus" / "tests" / "adaptrade.rules.test.yml", DEPLOY / "alertmanager" / "alertmanager.yml"


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_config_and_the_rules() -> None:
    promtool = require("promtool")
    r = run(promtool, "check", "config", str(PROM))
    assert r.returncode == 0 and "1 rule files found" in r.stdout, r.stdout + r.stderr
    r = run(promtool, "check", "rules", str(RULES))
    assert r.returncode == 0 and f"{len(alert_rules())} rules found" in r.stdout, r.stdout + r.stderr


def test_every_rule_has_unit_tests_that_pass_and_see_it_fire() -> None:
    promtool = require("promtool")
    names = {r["alert"] for r in alert_rules()}
    assert {"AdaptradeDrawdownPastLimit", "AdaptradeCircuitBreakerTripped", "AdaptradeJobFailed", "AdaptradeNoData",
            "AdaptradeApiErrorRate", "AdaptradePaperFeedQuiet", "AdaptradePaperHeartbeatStale"} <= names
    cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert fired == names and quiet == names  # each rule is seen firing and seen quiet
    r = run(promtool, "test", "rules", str(RULE_TESTS))
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize(("old", "new", "alert"), [
    # with the comparison flipped the drawdown case no longer passes
    ("adaptrade_drawdown_ratio > on", "adaptrade_drawdown_ratio < on", "AdaptradeDrawdownPastLimit"),
    # the paper feed's case: compared with the heartbeat instead of the due time, it never fires
    ("time() - adaptrade_paper_bar_due_timestamp_seconds >", "time() - adaptrade_paper_heartbeat_timestamp_seconds >",
     "AdaptradePaperFeedQuiet"),
], ids=["drawdown", "quiet-feed"])
def test_a_broken_rule_fails_its_unit_test(tmp_path: Path, old: str, new: str, alert: str) -> None:
    """The unit tests can fail: a rule broken on purpose makes its case fail."""
    promtool = require("promtool")
    text = RULES.read_text().replace(old, new)
    assert text != RULES.read_text()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "adaptrade.rules.yml").write_text(text)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yml").write_text(RULE_TESTS.read_text())
    r = run(promtool, "test", "rules", str(tmp_path / "tests" / "t.yml"))
    assert r.returncode != 0 and alert in r.stdout + r.stderr


def test_rules_read_only_exported_metrics() -> None:
    exported = exported_names(Metrics().registry) | exported_names(PaperMetrics().registry) | {"up"}
    assert metric_names('sum by (job) (rate(a_total{x="b(c)"}[5m])) / on (job) group_left () max(b) > 0.5') == {"a_total", "b"}
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names and names <= exported, (rule["alert"], names - exported)


def test_amtool_accepts_alertmanager_config_and_every_alert_routes_to_pagerduty() -> None:
    amtool = require("amtool")
    r = run(amtool, "check-config", str(AM))
    assert r.returncode == 0 and "SUCCESS" in r.stdout and "2 inhibit rules" in r.stdout, r.stdout + r.stderr
    cfg = yaml.safe_load(AM.read_text())
    [pd] = [c for rec in cfg["receivers"] for c in rec.get("pagerduty_configs", [])]
    assert pd["routing_key_file"] and "routing_key" not in pd and pd["send_resolved"] is True
    for rule in alert_rules():
        r = run(amtool, "config", "routes", "test", f"--config.file={AM}", "--verify.receivers=pagerduty",
                f"alertname={rule['alert']}", f"severity={rule['labels']['severity']}")
        assert r.returncode == 0 and r.stdout.strip() == "pagerduty", (rule["alert"], r.stdout + r.stderr)
    inhibited = {t for rule in cfg["inhibit_rules"] for t in re.findall(r"Adaptrade\w+", " ".join(rule["target_matchers"]))}
    assert inhibited <= {r["alert"] for r in alert_rules()}  # no inhibition names a rule that does not exist


def test_amtool_refuses_a_broken_config(tmp_path: Path) -> None:
    amtool = require("amtool")
    bad = tmp_path / "am.yml"
    bad.write_text(AM.read_text().replace("route:\n  receiver: pagerduty", "route:\n  receiver: nobody"))
    r = run(amtool, "check-config", str(bad))
    assert r.returncode != 0 and "nobody" in r.stdout + r.stderr


