"""The real alerting stack on loopback for the end-to-end tests: `adaptrade serve` as a subprocess (its own
DuckDB file, a redis-server of its own that a test can stop, an archive folder with a repaired and a corrupt
file, a bearer token), Debian's `prometheus` scraping its /metrics every second with the rules of
deploy/prometheus, Debian's `prometheus-alertmanager` with deploy/alertmanager's routing, posting to a local
Events API v2 stand-in. Only the scrape target, intervals, listen addresses, the PagerDuty URL and the routing
key file differ from the deployed configs. Conditions are made through the service's own API (jobs)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring.binaries import free_port, require
from tests.monitoring.receiver import EventsReceiver
from tests.system_tools import debian_tool

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ROUTING_KEY = "E2EROUTINGKEYE2EROUTINGKEYE2E032"
TOKEN = "e2e-token-" + uuid.uuid4().hex  # long and unique: finding it in a log means it leaked

# The service's settings (ADAPTRADE_*). Portfolio jobs size every entry at max_position (no Kelly), so a few
# stocks swing the account; the breaker, once tripped, stays on for the rest of these short runs; the page
# limit is below the breaker's. metrics_max_runs 3: a fourth stored run pushes the oldest run's series out.
SERVE_SETTINGS = {"alert_drawdown_limit": "0.03", "kelly_fraction": "0", "max_position": "0.25", "max_drawdown": "0.08",
                  "breaker_cooldown": "5000", "metrics_max_runs": "3", "executor": "serial", "api_job_workers": "2",
                  "api_job_starts_per_minute": "60"}
# POST /api/v1/backtests bodies (the fields of `adaptrade backtest`'s flags). Whether the two portfolio jobs
# end past the limit / with the breaker on is asserted from /metrics before anything relies on it.
DRAWDOWN_JOB = {"mode": "portfolio", "stocks": 4, "bars": 400, "seed": 12}  # drawdown past the limit, breaker never tripped
BREAKER_JOB = {"mode": "portfolio", "stocks": 4, "bars": 400, "seed": 1}  # breaker on at the last bar
QUIET_JOB = {"mode": "portfolio", "stocks": 4, "bars": 400, "seed": 2}  # neither
STOCKS_JOB = {"stocks": 4, "bars": 400, "seed": 5}  # per-stock, synthetic
ARCHIVE_JOB = {"source": "archive", "symbols": "AAPL"}  # per-stock, the archive's repaired AAPL file
FAILING_JOB = {"source": "archive", "symbols": "BAD"}  # fails at load: BAD.csv has a row with high < low
BAD_ROW = 12  # file line of BAD.csv with high < low


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


def build_archive(folder: Path) -> None:
    """The service's data folder: AAPL from the shipped sample with one 2023 session removed and one zero-volume
    bar (recoverable: counted and repaired at load), SPY for the benchmark, and BAD.csv (MSFT's first rows)
    whose line BAD_ROW has high below low (a load of BAD fails with a DataError naming file, row and field)."""
    from adaptrade.data.sample import sample_dir

    folder.mkdir(parents=True)
    src = sample_dir()
    lines = gzip.decompress((src / "AAPL.csv.gz").read_bytes()).decode().splitlines()
    march = next(i for i, line in enumerate(lines) if line.startswith("2023-03-"))
    june = next(i for i, line in enumerate(lines) if line.startswith("2023-06-"))
    cells = lines[june].split(",")
    cells[5] = "0"  # volume
    lines[june] = ",".join(cells)
    del lines[march]
    (folder / "AAPL.csv").write_text("\n".join(lines) + "\n")
    (folder / "SPY.csv.gz").write_bytes((src / "SPY.csv.gz").read_bytes())
    bad = gzip.decompress((src / "MSFT.csv.gz").read_bytes()).decode().splitlines()[:40]
    cells = bad[BAD_ROW - 1].split(",")
    cells[2], cells[3] = cells[3], cells[2]  # high <-> low
    bad[BAD_ROW - 1] = ",".join(cells)
    (folder / "BAD.csv").write_text("\n".join(bad) + "\n")


class OwnRedis:
    """redis-server on 127.0.0.1 at a fixed free port, no persistence; stop() and start() again on the same port."""

    def __init__(self, work: Path) -> None:
        self.binary = debian_tool("redis-server", "redis-server")
        self.port, self.work = free_port(), work
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        log = (self.work / "redis.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.work)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"redis-server on port {self.port} did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class Stack:
    """Handles of the running stack: `query` asks the real Prometheus, `api` the running service."""

    receiver: EventsReceiver
    prometheus_url: str
    alertmanager_url: str
    serve_url: str
    target: str  # the service's scrape target (the `instance` label)
    redis: OwnRedis
    data_dir: Path
    logs: Callable[..., str]

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = get_json(url)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The value of a one-series PromQL answer (None: no series)."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of one request to the service, with the bearer token."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.serve_url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def start_job(self, body: dict[str, Any]) -> str:
        status, job = self.api("POST", "/api/v1/backtests", body)
        assert status == 202, (status, job)
        return str(job["id"])

    def wait_job(self, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """The job's state once it left queued/running."""
        def finished() -> dict[str, Any] | None:
            status, job = self.api("GET", f"/api/v1/backtests/{job_id}")
            return job if status == 200 and job["state"] not in ("queued", "running") else None

        return wait_until(finished, timeout, f"job {job_id}", self.logs)

    def metric(self, name: str, **labels: str) -> float | None:
        """A sample of the service's own /metrics right now (None: no such series)."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.serve_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None

    def served_names(self) -> set[str]:
        """Every sample name the running service's /metrics shows."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.serve_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


class StackProcesses:
    """Starts and stops the stack's servers and processes (stop ends only what it started, by handle)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.receiver: EventsReceiver | None = None
        self.redis: OwnRedis | None = None

    def logs(self, tail: int | None = 3000) -> str:
        """The processes' logs (the last `tail` characters of each; None: all of them)."""
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-tail if tail else 0:]}"
                         for _, log in self.procs if log.exists())

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = self.work / f"{name}.log"
        out = log.open("wb")
        self.procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.work, env=env), log))
        out.close()

    def _serve(self, port: int) -> None:
        """`adaptrade serve` of this checkout (its src first on PYTHONPATH), no ADAPTRADE_* of the caller's environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTRADE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
        assert self.redis is not None
        env.update({f"ADAPTRADE_{k.upper()}": v for k, v in SERVE_SETTINGS.items()})
        env.update(ADAPTRADE_API_TOKEN=TOKEN, ADAPTRADE_REDIS_URL=self.redis.url,
                   ADAPTRADE_REDIS_PREFIX=f"adaptrade-e2e-{uuid.uuid4().hex[:12]}",
                   ADAPTRADE_DATA_DIR=str(self.work / "data"), ADAPTRADE_CACHE_DIR=str(self.work / "cache"))
        self._spawn("serve", [sys.executable, "-m", "adaptrade", "serve", "--host", "127.0.0.1", "--port", str(port),
                              "--db", str(self.work / "runs.duckdb")], env)

    def start(self) -> Stack:
        prometheus, alertmanager = require("prometheus"), require("prometheus-alertmanager")
        self.redis = OwnRedis(self.work)
        self.redis.start()
        build_archive(self.work / "data")
        serve_port = free_port()
        self._serve(serve_port)
        self.receiver = EventsReceiver()
        target = f"127.0.0.1:{serve_port}"
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

        stack = Stack(self.receiver, f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", f"http://{target}", target,
                      self.redis, self.work / "data", self.logs)
        wait_until(lambda: get_json(f"{stack.serve_url}/api/v1/health", timeout=2), 60, "adaptrade serve", self.logs)
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
        if self.receiver is not None:
            self.receiver.close()
        if self.redis is not None:
            self.redis.stop()
