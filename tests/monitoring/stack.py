"""The real alerting stack on loopback for the end-to-end tests: adaptrade's metrics registry served over
HTTP (prometheus_client's exporter), Debian's `prometheus` scraping it every second with the rules of
deploy/prometheus, Debian's `prometheus-alertmanager` with deploy/alertmanager's routing, posting to a
local Events API v2 stand-in. Only the scrape target, intervals, listen addresses, the PagerDuty URL and
the routing key file differ from the deployed configs."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import start_http_server

from adaptrade.monitoring.metrics import Metrics
from tests.monitoring.binaries import free_port, require
from tests.monitoring.receiver import EventsReceiver

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROUTING_KEY = "E2EROUTINGKEYE2EROUTINGKEYE2E032"


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_until(check: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] = lambda: "") -> Any:
    """check()'s first truthy value, polling every 0.25 s; AssertionError (with the logs) after `timeout` s."""
    end = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError) as exc:  # not listening yet, or not ready
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout}s (last error: {last})\n{logs()}")


@dataclass
class Stack:
    """Handles of the running stack; `query` asks the real Prometheus."""

    metrics: Metrics
    receiver: EventsReceiver
    prometheus_url: str
    alertmanager_url: str
    logs: Callable[..., str]

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = get_json(url)
        assert body["status"] == "success", body
        return body["data"]["result"]


class StackProcesses:
    """Starts and stops the stack's servers and processes (stop kills only what it started)."""

    def __init__(self, work: Path, metrics: Metrics) -> None:
        self.work, self.metrics = work, metrics
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.server: Any = None
        self.receiver: EventsReceiver | None = None

    def logs(self, tail: int | None = 3000) -> str:
        """The processes' logs (the last `tail` characters of each; None: all of them)."""
        return "\n".join(f"--- {log.name}\n{log.read_text()[-tail if tail else 0:]}" for _, log in self.procs if log.exists())

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = self.work / f"{name}.log"
        out = log.open("wb")
        self.procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.work), log))
        out.close()

    def start(self) -> Stack:
        prometheus, alertmanager = require("prometheus"), require("prometheus-alertmanager")
        self.receiver = EventsReceiver()
        self.server, _ = start_http_server(0, addr="127.0.0.1", registry=self.metrics.registry)
        target = f"127.0.0.1:{self.server.server_port}"
        key_file = self.work / "pagerduty_routing_key"
        key_file.write_text(ROUTING_KEY + "\n")
        key_file.chmod(0o400)

        am_cfg = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
        am_cfg["global"]["pagerduty_url"] = self.receiver.url
        for rec in am_cfg["receivers"]:
            for pd in rec.get("pagerduty_configs", []):
                pd["routing_key_file"] = str(key_file)
        (self.work / "alertmanager.yml").write_text(yaml.safe_dump(am_cfg))
        am_port = free_port()
        self._spawn("alertmanager", [alertmanager, f"--config.file={self.work / 'alertmanager.yml'}",
                                     f"--storage.path={self.work / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                     "--cluster.listen-address=", "--log.level=debug"])

        prom_cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        prom_cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
        prom_cfg["rule_files"] = [str((DEPLOY / "prometheus" / f).resolve()) for f in prom_cfg["rule_files"]]
        prom_cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
        # the service's job, scraping the service under test (the paper job's session process is not part of this stack)
        [job] = [j for j in prom_cfg["scrape_configs"] if j["job_name"] == "adaptrade"]
        prom_cfg["scrape_configs"] = [job]
        job.update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [target]}])
        (self.work / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
        prom_port = free_port()
        self._spawn("prometheus", [prometheus, f"--config.file={self.work / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={self.work / 'prom-data'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=info"])

        stack = Stack(self.metrics, self.receiver, f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", self.logs)
        for url in (stack.alertmanager_url, stack.prometheus_url):
            wait_until(lambda u=url: urllib.request.urlopen(f"{u}/-/ready", timeout=2).status == 200, 60,
                       f"{url} ready", self.logs)
        wait_until(lambda: stack.query(f'up{{job="adaptrade", instance="{target}"}} == 1'), 60, "first scrape", self.logs)
        return stack

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.receiver is not None:
            self.receiver.close()
