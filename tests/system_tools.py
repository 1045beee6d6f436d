"""Real tools the tests run (Debian packages, console scripts): installed with apt-get when missing and
running as root; otherwise skipped locally and failed under CI=true, where every test must run."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(msg: str) -> None:
    """Skip locally, fail under CI=true."""
    if in_ci():
        pytest.fail(msg + " (required when CI=true)")
    pytest.skip(msg)


def apt_install(package: str) -> None:
    """apt-get install `package` when this is root on a Debian machine (an update first if the install fails)."""
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=900, check=False)
        subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)


def debian_tool(binary: str, package: str) -> str:
    """Path of `binary`, installing Debian's `package` if needed and possible."""
    path = shutil.which(binary)
    if path is None:
        apt_install(package)
        path = shutil.which(binary)
    if path is None:
        unavailable(f"{binary} is not installed (Debian package {package})")
    return str(path)
