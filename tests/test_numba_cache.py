"""The numba cache folder is keyed by every module: a changed layout constant gets fresh code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import adaptrade


def _cache_dir(package_parent: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(package_parent)
    code = "import os, adaptrade; print(os.environ['NUMBA_CACHE_DIR'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.strip()


def test_changing_a_module_without_numba_code_changes_the_cache_folder(tmp_path: Path) -> None:
    src = Path(adaptrade.__file__).resolve().parent
    shutil.copytree(src, tmp_path / "adaptrade", ignore=shutil.ignore_patterns("__pycache__"))
    before = _cache_dir(tmp_path)
    state = tmp_path / "adaptrade" / "strategy" / "state.py"
    assert b"numba" not in state.read_bytes()  # a pure layout module, read by compiled code
    state.write_text(state.read_text() + "\n# layout changed\n")
    after = _cache_dir(tmp_path)
    assert before != after and before.startswith(str(Path(before).parent))
