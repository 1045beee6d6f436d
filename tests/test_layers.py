"""Data flows one way: a layer imports only the layers below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import adaptrade

PKG = Path(adaptrade.__file__).parent
# lowest first; layers on one rank may not import each other
RANKS = [("errors", "memory"), ("settings",), ("data",), ("stats",), ("universe",), ("strategy",), ("execution", "risk"), ("backtest",),
         ("portfolio",), ("parallel",), ("storage",), ("analytics",), ("research",), ("reports",),
         ("monitoring",), ("live",), ("api",), ("commands",), ("cli",), ("__main__",)]
RANK = {name: i for i, names in enumerate(RANKS) for name in names}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports() -> list[str]:
    bad = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        own = rel.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("adaptrade."):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("adaptrade.")]
            for target in targets:
                other = _layer(target)
                if other != own and RANK.get(other, 99) >= RANK.get(own, -1):
                    bad.append(f"{rel}: imports {target}")
    return bad


def test_every_layer_is_known() -> None:
    layers = {p.name.removesuffix(".py") for p in PKG.iterdir() if (p.is_dir() and p.name not in ("resources", "__pycache__")) or p.suffix == ".py"}
    assert layers - {"__init__"} <= set(RANK), layers - set(RANK)


def test_no_layer_imports_one_above_it() -> None:
    assert upward_imports() == []
