"""Executors give byte-identical output (serial / threads / processes / Dask), and failures are reported by symbol."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from adaptrade.parallel import runner
from adaptrade.parallel.batching import Batch, BatchResult, StockBatcher, run_batch
from adaptrade.parallel.executors import ProcessExecutor, SerialExecutor, ThreadExecutor, make_executor
from adaptrade.reports.files import params_frame, stocks_frame, summary, trades_frame
from adaptrade.errors import ConfigError
from adaptrade.settings import Settings

VENV_BIN = Path(sys.executable).parent
REQ = runner.RunRequest(stocks=12, bars=400, seed=7)
SETTINGS = Settings(batch_size=4)  # 3 batches


def _files(result: runner.BacktestResult) -> tuple[str, str, str]:
    """The CSV files a run writes, as the exact text."""
    return (stocks_frame(result).to_csv(index=False), trades_frame(result).to_csv(index=False),
            params_frame(result).to_csv(index=False))


@pytest.fixture(scope="module")
def serial_run() -> runner.BacktestResult:
    return runner.run(REQ, SETTINGS, executor="serial")[0]


def boom(batch: Batch) -> BatchResult:
    """A batch function that raises for the batch holding the second symbol range."""
    if batch.index == 1:
        raise ValueError("injected failure")
    return run_batch(batch)


def die(batch: Batch) -> BatchResult:
    """A batch function whose worker process dies on batch 1 (no exception, no cleanup)."""
    if batch.index == 1:
        os._exit(1)
    return run_batch(batch)


def test_batcher_keeps_order_and_size() -> None:
    assert StockBatcher(2).split(["A", "B", "C"]) == [("A", "B"), ("C",)]
    with pytest.raises(ConfigError):
        StockBatcher(0)


def test_make_executor_checks_flags() -> None:
    assert make_executor("auto", work=10).name == "threads"  # measured: threads beat serial on 2 cores
    assert make_executor("auto", workers=3, work=10).workers == 3  # --workers sizes the thread pool
    assert make_executor("processes", workers=2).name == "processes"
    assert make_executor("auto", scheduler="tcp://127.0.0.1:1").name == "dask"
    for bad in [dict(name="gpu"), dict(name="serial", scheduler="tcp://x:1"), dict(name="dask", scheduler="x:1"), dict(name="processes", workers=0)]:
        with pytest.raises(ConfigError):
            make_executor(**bad)  # type: ignore[arg-type]


def test_progress_counts_stocks(serial_run: runner.BacktestResult) -> None:
    seen: list[int] = []
    runner.run(REQ, SETTINGS, progress=seen.append, executor="serial")
    assert seen == [4, 8, 12]
    assert serial_run.settings["complete"] is True and len(serial_run.stocks) == 12


def test_processes_equal_serial(serial_run: runner.BacktestResult) -> None:
    seen: list[int] = []
    par, _ = runner.run(REQ, SETTINGS, progress=seen.append, executor="processes", workers=2)
    assert par.settings["executor"] == "processes" and sorted(seen) == [4, 8, 12]
    assert _files(par) == _files(serial_run)
    np.testing.assert_array_equal(par.output.equity, serial_run.output.equity)


def test_threads_equal_serial_and_share_the_bars(serial_run: runner.BacktestResult) -> None:
    """The thread pool runs batches on row views of the loaded bars and gives the serial arrays exactly."""
    seen: list[int] = []
    par, _ = runner.run(REQ, SETTINGS, progress=seen.append, executor="threads", workers=2)
    assert par.settings["executor"] == "threads" and par.settings["workers"] == 2 and sorted(seen) == [4, 8, 12]
    assert _files(par) == _files(serial_run)
    np.testing.assert_array_equal(par.output.equity, serial_run.output.equity)


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_in_process_batches_write_their_rows_of_the_run_arrays(executor: str, serial_run: runner.BacktestResult) -> None:
    """In-process batches fill rows of the run's equity / signal / in_market in place: merging copies nothing,
    and the result equals the concatenating path (a batch function that is not run_batch) exactly."""
    outcomes: list[object] = []
    res, _ = runner.run(REQ, SETTINGS, executor=executor, workers=2, on_batch=lambda o, done: outcomes.append(o))
    whole = res.output.equity
    assert len(outcomes) == 3 and all(o.result.equity.base is whole for o in outcomes)  # type: ignore[attr-defined]
    copied, _ = runner.run(REQ, SETTINGS, executor=executor, workers=2, fn=lambda b: run_batch(b))
    for name in ("equity", "signal", "in_market", "trades", "changes"):
        np.testing.assert_array_equal(getattr(res.output, name), getattr(copied.output, name))
    assert _files(res) == _files(copied) == _files(serial_run)


def test_batch_rows_are_views_when_consecutive() -> None:
    from adaptrade.data.synthetic import generate
    from adaptrade.parallel.batching import rows_of

    bars = generate(["A", "B", "C", "D"], 40, seed=1)
    part = rows_of(bars, ("B", "C"))
    assert np.shares_memory(part.close, bars.close) and part.symbols == ("B", "C")
    np.testing.assert_array_equal(part.close, bars.close[1:3])
    other = rows_of(bars, ("C", "A"))  # not consecutive in order: a copy, still the right rows
    assert not np.shares_memory(other.close, bars.close)
    np.testing.assert_array_equal(other.close, bars.close[[2, 0]])


@pytest.mark.parametrize("ex", [SerialExecutor(), ThreadExecutor(2), ProcessExecutor(2)], ids=["serial", "threads", "processes"])
def test_raising_batch_is_reported_and_others_finish(ex: object, serial_run: runner.BacktestResult) -> None:
    res, _ = runner.run(REQ, SETTINGS, executor=ex, fn=boom)  # type: ignore[arg-type]
    lost = list(serial_run.stocks["symbol"][4:8])
    assert res.settings["complete"] is False and res.settings["failed_symbols"] == lost
    assert "injected failure" in res.settings["failed_batches"][0]["error"]  # type: ignore[index]
    doc = summary(res)
    assert doc["complete"] is False and doc["failed_symbols"] == lost
    kept = serial_run.stocks[~serial_run.stocks["symbol"].isin(lost)].reset_index(drop=True)
    assert stocks_frame(res).to_csv(index=False) == kept[stocks_frame(res).columns].to_csv(index=False)
    assert summary(res)["aggregate"]  # the partial run still aggregates


def test_dead_process_worker_is_isolated(serial_run: runner.BacktestResult) -> None:
    res, _ = runner.run(REQ, SETTINGS, executor=ProcessExecutor(2), fn=die)
    lost = list(serial_run.stocks["symbol"][4:8])
    assert res.settings["failed_symbols"] == lost
    assert "died" in res.settings["failed_batches"][0]["error"]  # type: ignore[index]
    assert list(res.stocks["symbol"]) == [s for s in serial_run.stocks["symbol"] if s not in lost]


# --------------------------------------------------------------------------- a real Dask cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dask_scheduler() -> str:
    """A scheduler and two single-thread workers as separate processes; torn down in finally."""
    from distributed import Client

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    importable = str(Path(__file__).resolve().parents[len(__name__.split(".")) - 1])  # so workers can import `die`
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([importable, os.environ.get("PYTHONPATH", "")]),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1",
               DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(2):
            procs.append(subprocess.Popen([str(VENV_BIN / "dask"), "worker", addr, "--nworkers", "1", "--nthreads", "1",
                                           "--no-dashboard"], env=env, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 60
        while True:
            try:
                with Client(addr, timeout="5s") as c:
                    c.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        yield addr
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)


@pytest.mark.slow
def test_dask_scheduler_equals_serial(dask_scheduler: str, serial_run: runner.BacktestResult) -> None:
    seen: list[int] = []
    res, _ = runner.run(REQ, SETTINGS, progress=seen.append, scheduler=dask_scheduler)
    assert res.settings["executor"] == "dask" and sorted(seen) == [4, 8, 12]
    assert _files(res) == _files(serial_run)


@pytest.mark.slow
def test_dask_worker_death_fails_only_its_batch(dask_scheduler: str, serial_run: runner.BacktestResult) -> None:
    res, _ = runner.run(REQ, SETTINGS, executor="dask", scheduler=dask_scheduler, fn=die)
    lost = list(serial_run.stocks["symbol"][4:8])
    assert res.settings["complete"] is False and res.settings["failed_symbols"] == lost
    assert "KilledWorker" in res.settings["failed_batches"][0]["error"]  # type: ignore[index]
    kept = serial_run.stocks[~serial_run.stocks["symbol"].isin(lost)].reset_index(drop=True)
    assert stocks_frame(res).to_csv(index=False) == kept[stocks_frame(res).columns].to_csv(index=False)


@pytest.mark.slow
def test_dask_scheduler_sweep_equals_serial(dask_scheduler: str) -> None:
    """A sweep's trials on a running Dask scheduler are the serial trials (what `sweep --scheduler` runs on a cluster)."""
    from adaptrade.research.sweep import parse_space, run_sweep, trial_settings

    params = trial_settings("grid", parse_space("kind=fixed,adaptive;rsi_period=10,14"), None, 0)
    ser = run_sweep(REQ, SETTINGS, params, executor="serial").trials
    res = run_sweep(REQ, SETTINGS, params, executor="dask", scheduler=dask_scheduler)
    assert res.executor == "dask"
    das = res.trials
    cols = ["params", "mean_return", "mean_sharpe", "trades", "excess_sharpe"]
    assert len(ser) == 4 and ser[cols].to_csv(index=False) == das[cols].to_csv(index=False)


def test_archive_processes_equal_serial(shared_data_dir: Path, tmp_path: Path) -> None:
    """Workers reload their slice from the Parquet cache; the fingerprint check would fail a batch that differs."""
    s = Settings(batch_size=3, data_dir=shared_data_dir, cache_dir=tmp_path / "cache")
    req = runner.RunRequest(source="archive", symbols=("AAPL", "PLUG", "ARM", "NVDA", "KDP", "MARA"), stocks=None,
                            data_dir=shared_data_dir, start="2018-01-02", end="2024-03-08")
    ser, _ = runner.run(req, s, executor="serial")
    par, _ = runner.run(req, s, executor="processes", workers=2)
    assert par.settings["complete"] is True, par.settings["failed_batches"]
    assert _files(par) == _files(ser)


@pytest.mark.slow
def test_cli_stocks_csv_byte_identical(tmp_path: Path) -> None:
    """`adaptrade backtest --out`: stocks.csv is the same file for serial, processes and a Dask LocalCluster."""
    import json

    from typer.testing import CliRunner

    from adaptrade.cli import app

    base = ["backtest", "--stocks", "12", "--bars", "300", "--seed", "3", "--no-store"]
    runs = {"serial": ["--executor", "serial"], "threads": ["--executor", "threads", "--workers", "2"],
            "processes": ["--executor", "processes", "--workers", "2"],
            "dask": ["--executor", "dask", "--workers", "2"]}
    for name, flags in runs.items():
        r = CliRunner().invoke(app, base + flags + ["--out", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    ref = (tmp_path / "serial" / "stocks.csv").read_bytes()
    for name in ("threads", "processes", "dask"):
        assert (tmp_path / name / "stocks.csv").read_bytes() == ref
        doc = json.loads((tmp_path / name / "summary.json").read_text())
        assert doc["complete"] is True and doc["failed_symbols"] == [] and doc["settings"]["executor"] == name


def test_cli_incomplete_run_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed batch: outputs still written, summary.json lists the symbols, the command exits 3."""
    import json

    from typer.testing import CliRunner

    from adaptrade.cli import app

    from adaptrade.parallel.stream import StreamPlan

    real_backtest = StreamPlan.backtest

    def failing(self: StreamPlan, symbols: tuple[str, ...], settings: object) -> object:
        if symbols == self.symbols[4:8]:  # the streamed run's batch 1
            raise ValueError("injected failure")
        return real_backtest(self, symbols, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(StreamPlan, "backtest", failing)
    r = CliRunner().invoke(app, ["backtest", "--stocks", "12", "--bars", "300", "--no-store", "--out", str(tmp_path / "o")],
                           env={"ADAPTRADE_BATCH_SIZE": "4"})
    assert r.exit_code == 3, r.output
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["complete"] is False and len(doc["failed_symbols"]) == 4
    assert "INCOMPLETE" in r.output and "injected failure" in r.output
    assert len((tmp_path / "o" / "stocks.csv").read_text().splitlines()) == 1 + 8
