"""A wheelhouse for the image build from what this machine already has: every runtime dependency of
adaptrade repacked from the installed environment into a wheel (its files, dist-info and original tag, as
RECORD lists them), plus the build backend (setuptools, wheel) via `pip download` (pip's cache, else PyPI).
Same Python minor (3.11) and glibc family as the Debian base; the Dockerfile installs from it offline."""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same wheels each time, so Docker's layer cache holds


IMAGE_PYTHON = "3.11.2"  # Debian bookworm's python3: markers such as python_full_version < "3.11.3" differ


def runtime_closure(root: str = "adaptrade", missing: set[str] | None = None) -> list[md.Distribution]:
    """The installed distributions `root` needs at run time (extras and markers evaluated for the host and
    the image's Python, no dev extra); names needed only by the image's Python go into `missing`."""
    seen: dict[str, md.Distribution] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if missing is not None:
                missing.add(name)
            continue
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if key in seen and not extras:
            continue
        seen[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{**default_environment(), **py, "extra": e} for e in (extras or {""})
                    for py in ({}, {"python_full_version": IMAGE_PYTHON})]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return [d for k, d in seen.items() if k != root]


def repack(dist: md.Distribution, out: Path) -> Path:
    """One installed distribution as a wheel named by its WHEEL tag (files outside site-packages left out)."""
    info = next(f for f in dist.files or [] if f.name == "WHEEL" and f.parent.name.endswith(".dist-info"))
    tags = [line.split(":", 1)[1].strip().split("-") for line in info.read_text().splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))  # py2-none-any + py3-... -> py2.py3-none-any
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = out / f"{name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in dist.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or f.parent.name.endswith(".dist-info") and f.name in (
                    "INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            src = Path(str(f.locate()))
            if src.is_file():
                zf.writestr(zipfile.ZipInfo(rel, EPOCH), src.read_bytes())
    return path


def build(out: Path, constraints: Path) -> list[Path]:
    """Fill `out` with the wheels; returns them."""
    out.mkdir(parents=True, exist_ok=True)
    missing: set[str] = set()
    wheels = [repack(d, out) for d in runtime_closure(missing=missing)]
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps",
                        "-c", str(constraints), "-d", str(out), "setuptools>=68", "wheel", *sorted(missing)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    return wheels
