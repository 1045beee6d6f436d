"""The paper journals: a torn last line and a kill inside a compaction recover; an in-process crash every
few sessions (with frequent compactions, a torn line and a format-1 state.json on the way) ends exactly as
an uninterrupted session; `paper status`'s reader sees the journaled cursor."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adaptrade.data.archive import load_archive
from adaptrade.data.sample import SAMPLE_SYMBOLS
from adaptrade.errors import DataError
from adaptrade.live.broker import OrderRequest, SimBroker, read_sim_book
from adaptrade.live.feeds import ReplayFeed
from adaptrade.live.journal import Journal
from adaptrade.live.loop import PaperLoop, current_state
from adaptrade.live.outputs import params_frame, trades_frame
from adaptrade.live.state import Lease, atomic_write_json
from adaptrade.strategy.params import StrategyConfig
from adaptrade.strategy.state import S_SHARES

CFG = StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=1)


class Crash(Exception):
    """Stands for a kill right after a batch's records were appended (the in-memory state is dropped)."""


def test_torn_line_is_ignored_then_cut_and_a_kill_inside_compaction_loses_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path, "x", fsync=False)
    assert j.load() == (None, [])
    j.compact({"v": 0})
    for k in range(3):
        j.append({"k": k})
    with open(j.path, "ab") as fh:
        fh.write(b'{"k": 3, "trunc')  # a kill in the middle of a write
    j2 = Journal(tmp_path, "x", fsync=False)
    assert j2.load() == ({"v": 0, "gen": 1}, [{"k": 0}, {"k": 1}, {"k": 2}])
    j2.append({"k": 4})  # the torn tail is cut off first
    assert Journal(tmp_path, "x").load()[1] == [{"k": 0}, {"k": 1}, {"k": 2}, {"k": 4}]
    # a kill between writing snapshot gen 2 and replacing the journal: the old journal's records are in it
    atomic_write_json(j2.snap_path, {"v": 5, "gen": 2})
    j3 = Journal(tmp_path, "x")
    assert j3.load() == ({"v": 5, "gen": 2}, [])
    j3.append({"k": 6})
    assert Journal(tmp_path, "x").load() == ({"v": 5, "gen": 2}, [{"k": 6}])
    with open(j3.path, "ab") as fh:
        fh.write(b"not json\n")  # a whole damaged line is an error naming the file, not a silent skip
    with pytest.raises(DataError, match="x.journal"):
        Journal(tmp_path, "x").load()


def test_sim_broker_book_survives_a_torn_record_and_sees_another_process_cancel(tmp_path: Path) -> None:
    b = SimBroker(tmp_path, 10_000.0, 1.0, 5.0, fsync=False)
    b.submit(OrderRequest("C1", "AAA", 1, notional=5_000.0, created="2024-01-02"))
    b.submit(OrderRequest("C2", "BBB", 1, notional=5_000.0, created="2024-01-02"))
    b.on_open("2024-01-03", ("AAA", "BBB"), np.array([10.0, np.nan]), np.array([11.0, 20.0]), np.array([True, False]))
    with open(tmp_path / "broker.journal", "ab") as fh:
        fh.write(b'{"op":"submit","cid":"C3"')  # killed mid-append
    other = SimBroker(tmp_path, 0.0, 0.0, 0.0, fsync=False)  # `paper stop` in another process
    assert other.cancel_all() == 1  # C2 (BBB had no bar)
    assert b.order("C2")["status"] == "cancelled"  # the first instance read the other's append
    assert b.submit(OrderRequest("C1", "AAA", 1, notional=1.0, created="2024-01-04"))["duplicate"]
    book = read_sim_book(tmp_path)
    assert book["submissions"] == ["C1", "C2", "C1"] and book["positions"]["AAA"] == pytest.approx(5_000 / 10.005 / 1.0001)
    b.compact()
    same = {json.dumps(x, sort_keys=True) for x in (json.loads((tmp_path / "broker.json").read_text())["orders"],
                                                     read_sim_book(tmp_path)["orders"], {c: b.order(c) for c in ("C1", "C2")})}
    assert len(same) == 1  # the snapshot, a reader's view and the live book (NaN-safe: compared as JSON)


def _open(folder: Path, bars) -> PaperLoop:  # type: ignore[no-untyped-def]
    folder.mkdir(exist_ok=True)
    broker = SimBroker(folder, CFG.initial_cash * bars.n_symbols, CFG.commission_bps, CFG.slippage_bps, fsync=False)
    return PaperLoop(folder, ReplayFeed(bars), CFG, broker, {"test": 1}, fsync=False, compact_every=7)


def _loop(folder: Path, bars, crash_at: int | None = None) -> PaperLoop:  # type: ignore[no-untyped-def]
    loop = _open(folder, bars)
    if crash_at is not None:
        def hook(k: int, t_in: float, t_out: float) -> None:
            if k == crash_at:
                raise Crash

        loop.on_batch = hook
    lease = Lease(folder)
    lease.acquire("t")
    try:
        loop.run(lease)
    except Crash:
        loop.broker.close()  # what a kill leaves: the files only
        loop.close()
    finally:
        lease.release()
    return loop


def _to_format_1(folder: Path, bars, cursor: int) -> None:  # type: ignore[no-untyped-def]
    """Rewrite the session's current state as the earlier code kept it: one state.json, every close."""
    loop = _open(folder, bars)  # the state as loaded (snapshot + journal)
    loop.broker.close()
    loop.close()
    doc = {**loop.doc, "valid_count": {s: int(n) for s, n in zip(loop.symbols, loop.valid_n)}}
    sessions = ReplayFeed(bars).sessions[:cursor]
    cols = np.searchsorted(bars.dates, sessions)
    doc["strategies"] = {s: {"symbol": s, "state": st.state.tolist(), "t": st._t,
                             "closes": [float(bars.close[i, c]) for c in cols if bars.valid[i, c]]}
                         for i, (s, st) in enumerate(loop.strats.items())}
    (folder / "state.journal").unlink()
    atomic_write_json(folder / "state.json", doc)


def test_crash_every_few_sessions_with_compactions_equals_an_uninterrupted_session(sample_dir: Path, tmp_path: Path) -> None:
    full, _ = load_archive(sample_dir, SAMPLE_SYMBOLS)
    full = full.adjusted()
    cut = {k: getattr(full, k)[..., -400:] for k in ("open", "high", "low", "close", "volume", "valid")}
    bars = replace(full, dates=full.dates[-400:], adj_close=None, **cut)  # the sample's last 400 sessions, real prices
    clean = _loop(tmp_path / "clean", bars)
    folder = tmp_path / "crashy"
    for k, crash in enumerate((40, 41, 95, 150, 151, 230, 333)):
        loop = _loop(folder, bars, crash_at=crash)
        assert current_state(folder)["cursor"] == loop.doc["cursor"] == crash + 1  # the reader sees the journal
        if k == 2:
            with open(folder / "state.journal", "ab") as fh:
                fh.write(b'{"k":"ack","cid":"AT-')  # a torn last line
        if k == 4:
            _to_format_1(folder, bars, loop.doc["cursor"])
    end = _loop(folder, bars)
    assert end.doc["status"] == clean.doc["status"] == "done"
    assert trades_frame(end).equals(trades_frame(clean)) and params_frame(end).equals(params_frame(clean))
    assert len(trades_frame(clean)) > 20 and len(params_frame(clean)) > 3
    assert json.dumps(end.broker.orders()) == json.dumps(clean.broker.orders()) and end.doc["fills"] == clean.doc["fills"]
    assert end.broker.submissions() == clean.broker.submissions()  # no client order id twice
    saved = json.loads((folder / "state.json").read_text())
    assert saved["strategies"] == json.loads((tmp_path / "clean" / "state.json").read_text())["strategies"]
    assert saved["format"] == 2 and max(len(s["features"]) for s in saved["strategies"].values()) < 64


def test_an_order_waiting_through_a_halt_is_not_sent_again(sample_dir: Path, tmp_path: Path) -> None:
    """A stock with no bar on the session its order was for keeps that order (the broker holds it for the next
    session); the loop must not send a second order for the same signal, or the broker would buy twice."""
    full, _ = load_archive(sample_dir, SAMPLE_SYMBOLS)
    full = full.adjusted()
    cut = {k: getattr(full, k)[..., -300:].copy() for k in ("open", "high", "low", "close", "volume", "valid")}
    bars = replace(full, dates=full.dates[-300:], adj_close=None, **cut)
    first = _loop(tmp_path / "clean", bars).doc["intents"][0]
    i, col = bars.symbols.index(first["symbol"]), int(np.searchsorted(bars.dates, np.datetime64(first["created"], "D")))
    for k in ("open", "high", "low", "close", "volume"):
        getattr(bars, k)[i, col + 1: col + 3] = np.nan  # two sessions halted right after the signal
    bars.valid[i, col + 1: col + 3] = False
    loop = _loop(tmp_path / "halt", bars)
    mine = [it for it in loop.doc["intents"] if it["symbol"] == first["symbol"]]
    assert mine[0]["client_order_id"] == first["client_order_id"]  # the same signal, the same order
    assert mine[1]["created"] > str(bars.dates[col + 2])  # the next order comes from a later signal
    pos = read_sim_book(tmp_path / "halt")["positions"].get(first["symbol"], 0.0)
    assert pos == pytest.approx(float(loop.strats[first["symbol"]].state[S_SHARES]), rel=1e-9)
