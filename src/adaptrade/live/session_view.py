"""A paper session as `paper status`, `paper stop` and the API see it: read from its persisted files
(state, broker book, heartbeat, lease), and the kill switch. Shared so the CLI and the service agree."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from adaptrade.errors import ConfigError
from adaptrade.live.loop import KILL_FILE, current_state, killed
from adaptrade.live.state import Lease, atomic_write_json, read_json

OPEN_STATUSES = ("new", "partially_filled")


class NoSession(ConfigError):
    """The paper folder holds no session of that name (the API answers 404)."""


def session_folder(session: str, paper_dir: Path) -> Path:
    """The folder of session `session` under the paper folder (a bad name is a one-line error)."""
    if not session or any(c in session for c in "/\\\0") or session.startswith("."):
        raise ConfigError(f"bad session name '{session}' (letters, digits, - and _)", field="session")
    return Path(paper_dir) / session


def require_session(session: str, paper_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The folder and state document of an existing session; ConfigError naming it when there is none."""
    folder = session_folder(session, paper_dir)
    doc = current_state(folder)
    if doc is None:
        raise NoSession(f"no paper session '{session}' in {folder.parent}", field="session")
    return folder, doc


def read_book(folder: Path) -> dict[str, Any]:
    """The session's broker book: the sim/portfolio book file, else the alpaca ledger (cash NaN offline)."""
    from adaptrade.live.alpaca_broker import ledger_book
    from adaptrade.live.broker import read_sim_book

    return read_sim_book(folder) or ledger_book(folder) or {"positions": {}, "orders": {}, "cash": math.nan}


def session_view(session: str, paper_dir: Path) -> dict[str, Any]:
    """Everything `paper status` prints: running, status, kill switch, meta, cursor, heartbeat, cash,
    non-zero positions, every order and the open ones."""
    folder, doc = require_session(session, paper_dir)
    book = read_book(folder)
    hb = read_json(folder / "heartbeat.json") or {}
    orders = list(book["orders"].values())
    return {"session": session, "folder": folder, "running": Lease(folder).held_elsewhere(), "pid": hb.get("pid"),
            "status": doc["status"], "killed": killed(folder), "meta": doc["meta"], "cursor": doc["cursor"],
            "heartbeat_date": hb.get("session_date"), "cash": float(book["cash"]),
            "positions": {s: float(q) for s, q in book["positions"].items() if q},
            "orders": orders, "open_orders": [o for o in orders if o["status"] in OPEN_STATUSES]}


def finite_number(value: Any) -> float | None:
    """A JSON-safe number: NaN/inf/absent -> None."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def session_header(view: dict[str, Any]) -> dict[str, Any]:
    """Where the session stands, as the API's `session` object (models_paper.PaperSession)."""
    meta = view["meta"]
    return {"session": view["session"], "running": view["running"], "status": view["status"], "kill_switch": view["killed"],
            "broker": meta.get("broker"), "mode": meta.get("mode", "per-stock"), "symbols": list(meta["symbols"]),
            "cursor": int(view["cursor"]), "last_session_date": view["heartbeat_date"]}


def positions_doc(view: dict[str, Any]) -> dict[str, Any]:
    """GET /paper/positions of a session view as JSON (models_paper.PaperPositions): its header, cash and
    non-zero positions by symbol. One function for the API and the positions the paper process caches."""
    return {"session": session_header(view), "cash": finite_number(view["cash"]),
            "positions": [{"symbol": s, "quantity": q} for s, q in sorted(view["positions"].items())]}


def kill_session(session: str, settings: Any) -> int:
    """The kill switch (`paper stop`): mark the session killed so the loop sends no new order and stops,
    and cancel its open orders at the broker. Returns how many were cancelled."""
    from adaptrade.live.broker import SimBroker

    folder, doc = require_session(session, settings.paper_dir)
    atomic_write_json(folder / KILL_FILE, {"at": time.time()})
    if doc.get("mode") == "portfolio":  # the book lives in the loop's arrays: the loop cancels when it sees the switch
        return sum(1 for o in (read_json(folder / "broker.json") or {"orders": {}})["orders"].values() if o["status"] in OPEN_STATUSES)
    if (folder / "alpaca.json").exists():
        from adaptrade.live.alpaca_broker import AlpacaBroker

        return AlpacaBroker(folder, settings, stream=False).cancel_all()
    return SimBroker(folder, 0.0, 0.0, 0.0).cancel_all() if (folder / "broker.json").exists() else 0
