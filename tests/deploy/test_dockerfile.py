"""deploy/Dockerfile: hadolint finds no errors, and the image is what the deployment expects: a base image
argument, multi-stage, non-root, pinned dependencies, `adaptrade serve` on 0.0.0.0, a health check on
/api/v1/health, and no secrets in it."""

from __future__ import annotations

import json
import re
import subprocess

from tests.deploy.tools import DEPLOY, REPO, venv_tool

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_hadolint_reports_no_errors() -> None:
    hadolint = venv_tool("hadolint")
    r = subprocess.run([hadolint, "--format", "json", "--failure-threshold", "error", str(DOCKERFILE)],
                       capture_output=True, text=True, timeout=60, check=False)
    findings = json.loads(r.stdout or "[]")
    errors = [f for f in findings if f["level"] == "error"]
    assert r.returncode == 0 and errors == [], findings


def test_hadolint_would_catch_an_error(tmp_path) -> None:
    """The lint is real: a Dockerfile with a known error (DL3000, relative WORKDIR) fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nWORKDIR relative/dir\n")
    r = subprocess.run([venv_tool("hadolint"), "--failure-threshold", "error", str(bad)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode != 0 and "DL3000" in r.stdout


def test_image_shape() -> None:
    ins = instructions()
    froms = [a for op, a in ins if op == "FROM"]
    assert ins[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    assert froms == ["${BASE_IMAGE} AS build", "${BASE_IMAGE} AS runtime"]
    runtime = ins[[i for i, (op, a) in enumerate(ins) if op == "FROM"][1]:]
    assert ("USER", "10001:10001") in runtime and not any(op == "USER" and a.startswith("0") for op, a in ins)
    assert any(op == "COPY" and a.startswith("--from=build /opt/adaptrade") for op, a in runtime)
    pip = [a for op, a in ins if op == "RUN" and "pip install" in a]
    assert "rm -rf build src" in pip[0]  # no stale placeholder build shadows the real package
    assert pip and all("-c constraints.txt" in a for a in pip)  # pinned
    assert json.loads(dict(runtime)["ENTRYPOINT"]) == ["adaptrade"]
    assert json.loads(dict(runtime)["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    health = dict(runtime)["HEALTHCHECK"]
    assert "/api/v1/health" in health and "urllib.request" in health and "curl" not in health


def test_no_secret_is_baked_in() -> None:
    for op, args in instructions():
        if op in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"TOKEN|PASSWORD|SECRET|ROUTING_KEY|DB_URL", args, re.IGNORECASE), (op, args)
    # the build context excludes local env files, stores and secrets
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # a whitelist: everything is excluded unless named
    # of deploy/ only the offline wheelhouse folder is sent (no env files, no secrets)
    assert [line for line in ignore if line.startswith("!deploy")] == ["!deploy/wheels/"]
