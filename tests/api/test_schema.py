"""schemathesis (its CLI, in a second process) against /api/v1/openapi.json of the running service:
no 500s, no response that violates the schema, documented status codes only (bounded run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Server, Store

pytestmark = pytest.mark.service


def test_api_conforms_to_its_schema(server: Server, store: Store, tmp_path: Path) -> None:
    if store.backend != "postgresql":  # one fuzzing pass (minutes); every read test runs on both backends
        pytest.skip("schemathesis runs once, against the PostgreSQL-backed service")
    # POST/DELETE run too, without the token: they must answer 401 (documented), never start work or fail
    exe = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run([str(exe), "run", server.url + "/api/v1/openapi.json", "--checks", "all", "--max-examples", "4", "--phases", "examples,coverage,fuzzing",
                           "--seed", "14", "--generation-deterministic", "--request-timeout", "10", "--no-color"],
                          check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    art = Path(__file__).resolve().parents[2] / "test-artifacts"
    art.mkdir(exist_ok=True)
    (art / "schemathesis.txt").write_text(out)
    assert proc.returncode == 0, out[-6000:]
    assert "passed" in out.lower()
