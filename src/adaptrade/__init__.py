"""adaptrade: backtest, rank and paper-trade an adaptive RSI strategy over the NASDAQ universe."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def _numba_cache_dir() -> None:
    """Point numba's on-disk cache at a folder keyed by the package's compiled source.

    numba re-validates a cached function against its own file only, so a kernel that calls a
    changed function in another file (e.g. the backtest loop calling `strategy.kernel.step`), or
    reads index constants from a layout module, would silently keep the old machine code. Keying
    the folder by the content of every module of the package makes a stale cache impossible.
    An explicit NUMBA_CACHE_DIR wins.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ["NUMBA_CACHE_DIR"] = str(base / "adaptrade" / "numba" / h.hexdigest()[:16])


_numba_cache_dir()
