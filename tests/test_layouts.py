"""The integer layouts of the compiled arrays never share a prefix within a module.

Indices like POS_SHARES or LIM_STOP_PCT are compiled into numba loops; if two layouts imported
into one module had the same prefix, a slip (one array's index on another array) would read the
wrong column without any error. Each prefix therefore belongs to one defining module.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import adaptrade

PKG = Path(adaptrade.__file__).parent
CONST = re.compile(r"^([A-Z][A-Z0-9]*)_[A-Z0-9_]+$")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _scan() -> tuple[dict[str, dict[str, int]], dict[str, dict[str, str]]]:
    """Per module: int constants defined at top level, and constants imported (name -> source module)."""
    defined: dict[str, dict[str, int]] = {}
    imported: dict[str, dict[str, str]] = {}
    for path in PKG.rglob("*.py"):
        mod = _module_name(path)
        tree = ast.parse(path.read_text())
        defs: dict[str, int] = {}
        imps: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
                    for n in names:
                        if isinstance(n, ast.Name) and CONST.match(n.id):
                            defs[n.id] = 0
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("adaptrade"):
                for alias in node.names:
                    if CONST.match(alias.name) and alias.asname is None:
                        imps[alias.name] = node.module
        defined[mod], imported[mod] = defs, imps
    return defined, imported


def _origin(name: str, mod: str, defined: dict, imported: dict) -> str:
    while name not in defined.get(mod, {}) and name in imported.get(mod, {}):
        mod = imported[mod][name]
    return mod


def _int_valued(mod: str, name: str) -> bool:
    import importlib

    value = getattr(importlib.import_module(mod), name, None)
    return isinstance(value, int) and not isinstance(value, bool)


def test_no_prefix_is_shared_by_two_layouts_in_one_module() -> None:
    defined, imported = _scan()
    clashes = []
    for mod in defined:
        by_prefix: dict[str, set[str]] = defaultdict(set)
        for name in set(defined[mod]) | set(imported[mod]):
            origin = _origin(name, mod, defined, imported)
            if name.endswith(("_FIELDS", "_SIZE")) or not _int_valued(origin, name):
                continue
            by_prefix[CONST.match(name).group(1)].add(origin)
        clashes += [f"{mod}: {p}_ from {sorted(o)}" for p, o in by_prefix.items() if len(o) > 1]
    assert not clashes, clashes


def test_the_check_sees_a_clash() -> None:
    """The scan does find a planted clash (so the test above can fail)."""
    defined = {"a": {"X_ONE": 0}, "b": {"X_TWO": 0}, "c": {}}
    imported = {"a": {}, "b": {}, "c": {"X_ONE": "a", "X_TWO": "b"}}
    origins = {_origin(n, "c", defined, imported) for n in ("X_ONE", "X_TWO")}
    assert origins == {"a", "b"}
