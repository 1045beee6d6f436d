"""The real Debian binaries the monitoring tests run (promtool, prometheus, amtool, prometheus-alertmanager):
installed with apt-get when missing and running as root; otherwise skipped, or failed under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "amtool": "prometheus-alertmanager",
            "prometheus-alertmanager": "prometheus-alertmanager"}


def _apt_install(package: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=900, check=False)
        subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)


def require(binary: str) -> str:
    """Path of `binary`, installing its package if needed and possible."""
    path = shutil.which(binary)
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        _apt_install(PACKAGES[binary])
        path = shutil.which(binary)
    if path is None:
        msg = f"{binary} is not installed (Debian package {PACKAGES[binary]})"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(msg + "; required when CI=true")
        pytest.skip(msg)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now (for binaries that need a port number)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
