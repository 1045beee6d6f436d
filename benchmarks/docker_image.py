"""Container image: base build, image build cold / cached / after a source change, image size, and the
time from `docker run` to the first healthy /api/v1/health answer. Rewrites the "Container image"
section of docs/performance.md.

Needs a running Docker daemon (Debian docker.io; start one with `dockerd --bridge=none --iptables=false`)
and mmdebstrap for the base. Usage: python benchmarks/docker_image.py [--starts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Container image"
BASE, IMAGE = "adaptrade-base:bookworm", "adaptrade:bench"
CA = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def sh(*args: str, env: dict[str, str] | None = None, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False,
                       env={**os.environ, **(env or {})})
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def build(context: Path, *extra: str) -> float:
    args = [DOCKER, "build", "--network", "host", "-f", str(ROOT / "deploy" / "Dockerfile"),
            "--build-arg", f"BASE_IMAGE={BASE}", "-t", IMAGE, *extra]
    if CA.exists():
        args += ["--secret", f"id=pip_ca,src={CA}"]
    t0 = time.monotonic()
    sh(*args, str(context), env={"DOCKER_BUILDKIT": "1"})
    return time.monotonic() - t0


def changed_source_context() -> Path:
    """A copy of the build context with one source file changed (a new comment line)."""
    tmp = Path(tempfile.mkdtemp(prefix="adaptrade-ctx-"))
    for name in ("pyproject.toml", "constraints.txt", "README.md", ".dockerignore"):
        shutil.copy2(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "src", tmp / "src", ignore=shutil.ignore_patterns("__pycache__"))
    init = tmp / "src" / "adaptrade" / "__init__.py"
    init.write_text(init.read_text() + f"\n# benchmark source change {time.time()}\n")
    return tmp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_to_healthy(fields: set[str]) -> tuple[float, float]:
    """Seconds from `docker run -d` to the first 200 of /api/v1/health, and to Docker's 'healthy'."""
    port, name = free_port(), f"adaptrade-bench-{secrets.token_hex(4)}"
    env = ["-e", f"API_PORT={port}", "-e", f"ADAPTRADE_API_TOKEN={secrets.token_urlsafe(24)}"]
    if "redis_url" in fields:
        env += ["-e", "ADAPTRADE_REDIS_URL=redis://127.0.0.1:6379/0"]
    t0 = time.monotonic()
    sh(DOCKER, "run", "-d", "--network", "host", "--name", name, *env, IMAGE, "serve", "--host", "0.0.0.0",
       "--port", str(port))
    try:
        first = None
        while first is None and time.monotonic() - t0 < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        first = time.monotonic() - t0
            except OSError:
                time.sleep(0.05)
        while time.monotonic() - t0 < 180:
            state = json.loads(sh(DOCKER, "inspect", name).stdout)[0]["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return float(first or "nan"), time.monotonic() - t0
            time.sleep(0.2)
        return float(first or "nan"), float("nan")
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=3, help="container starts to time")
    ap.add_argument("--rebuild-base", action="store_true", help="remove and rebuild the base image")
    args = ap.parse_args()
    sh(DOCKER, "info")
    rows: list[tuple[str, str]] = []
    if args.rebuild_base:
        subprocess.run([DOCKER, "rmi", "-f", BASE], capture_output=True, check=False)
    t0 = time.monotonic()
    out = sh(str(ROOT / "scripts" / "build_base_image.sh"), BASE).stdout
    rows.append(("base image (mmdebstrap bookworm + docker import)",
                 "exists, skipped" if "nothing to do" in out else f"{time.monotonic() - t0:.0f} s"))
    base_mb = json.loads(sh(DOCKER, "inspect", BASE).stdout)[0]["Size"] / 1e6
    rows.append(("image build, cold (--no-cache: wheels downloaded and installed)", f"{build(ROOT, '--no-cache'):.0f} s"))
    rows.append(("image build, cached, nothing changed", f"{build(ROOT):.1f} s"))
    ctx = changed_source_context()
    try:
        rows.append(("image build, cached, one source file changed", f"{build(ctx):.0f} s"))
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    build(ROOT)  # leave the tag on the real source
    size = json.loads(sh(DOCKER, "inspect", IMAGE).stdout)[0]["Size"] / 1e6
    rows.append(("image size (base included)", f"{size:.0f} MB (base {base_mb:.0f} MB)"))
    helps = sh(DOCKER, "run", "--rm", "--network", "host", IMAGE, "--help").stdout
    if "serve" in helps:
        fields = set(sh(DOCKER, "run", "--rm", "--network", "host", "--entrypoint", "python3", IMAGE, "-c",
                        "from adaptrade.settings import Settings; print(' '.join(Settings.model_fields))").stdout.split())
        starts = [time_to_healthy(fields) for _ in range(args.starts)]
        firsts, dockers = sorted(s[0] for s in starts), sorted(s[1] for s in starts)
        rows.append((f"docker run to first 200 of /api/v1/health (best / median of {len(starts)})",
                     f"{firsts[0]:.2f} / {firsts[len(firsts) // 2]:.2f} s"))
        rows.append(("docker run to Docker status 'healthy' (HEALTHCHECK every 5 s)", f"{dockers[len(dockers) // 2]:.1f} s"))
    else:
        rows.append(("docker run to first healthy response", "not measured: no `adaptrade serve` in this source"))
    lines = [SECTION, "",
             "`python benchmarks/docker_image.py` (needs a running dockerd and mmdebstrap): `deploy/Dockerfile` on the",
             (f"Debian base of `scripts/build_base_image.sh`, BuildKit, wheels from PyPI through the machine's proxy. "
              f"Machine: {os.cpu_count()} cores shared, Python {platform.python_version()} on the host, Debian's 3.11 in the image."),
             "", "| what | measured |", "| --- | ---: |"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    perf = ROOT / "docs" / "performance.md"
    old = perf.read_text() if perf.exists() else "# Performance\n"
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1:] if nxt >= 0 else "")
    perf.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
