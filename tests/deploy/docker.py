"""The real Docker of the image test: Debian's docker.io installed when missing (root), its dockerd
started with --bridge=none --iptables=false on its own socket and data-root when none runs (and stopped
again), containers on --network host only, so all traffic stays on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.deploy.tools import apt_install, unavailable

# The daemon this test starts: its own socket, exec-root and data-root (kept between runs as a layer cache;
# delete it for a cold run). ADAPTRADE_* is not used: adaptrade refuses unknown ADAPTRADE_ variables.
DATA_ROOT = Path(os.environ.get("DOCKER_TEST_DATA_ROOT", "/var/lib/adaptrade-test-docker"))
EXEC_ROOT = Path("/run/adaptrade-test-docker")
SOCKET = f"unix://{EXEC_ROOT}/docker.sock"


def client() -> str:
    """Debian's docker client first: it has BuildKit built in (a newer client may lack the buildx plugin)."""
    for path in ("/usr/bin/docker", shutil.which("docker")):
        if path and Path(path).exists():
            return str(path)
    unavailable("docker is not installed (Debian package docker.io)")
    raise AssertionError  # unreachable


def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A docker (or other) command; DOCKER_HOST is the daemon daemon() chose."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False,
                          env=None if env is None else {**os.environ, **env})


def daemon() -> Iterator[str]:
    """Yield the docker client with a daemon answering (the machine's, else one started here on its own
    socket); stop the daemon afterwards if this started it."""
    if shutil.which("dockerd") is None:
        apt_install("docker.io")
    if shutil.which("mmdebstrap") is None:
        apt_install("mmdebstrap")
    if shutil.which("dockerd") is None:
        unavailable("dockerd is not installed (Debian package docker.io; needs root to install)")
    docker = client()
    proc, saved = None, os.environ.get("DOCKER_HOST")
    if run(docker, "info").returncode != 0:
        if os.geteuid() != 0:
            unavailable("no Docker daemon runs and starting one needs root")
        os.environ["DOCKER_HOST"] = SOCKET
        EXEC_ROOT.mkdir(parents=True, exist_ok=True)
        log = open("/tmp/adaptrade-test-dockerd.log", "ab")  # noqa: SIM115 (kept open while dockerd runs)
        proc = subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false", "--ip-masq=false",
                                 f"--host={SOCKET}", f"--data-root={DATA_ROOT}", f"--exec-root={EXEC_ROOT}",
                                 f"--pidfile={EXEC_ROOT}/dockerd.pid"], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while run(docker, "info").returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                unavailable("dockerd did not start (see /tmp/adaptrade-test-dockerd.log)")
            time.sleep(0.5)
    try:
        yield docker
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if saved is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved
