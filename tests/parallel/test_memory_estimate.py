"""The memory estimate and the refusal of runs that would not fit, before any data is made."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from adaptrade.errors import ConfigError
from adaptrade.parallel import runner
from adaptrade.settings import Settings


def test_estimate_grows_linearly_in_stock_bars() -> None:
    base = runner.estimate_memory_bytes(0, 2520)
    one = runner.estimate_memory_bytes(1000, 2520) - base
    assert one > 0
    assert runner.estimate_memory_bytes(2000, 2520) - base == 2 * one
    assert runner.estimate_memory_bytes(1000, 5040) - base == 2 * one


def test_check_memory_refuses_with_the_estimate() -> None:
    runner.check_memory(500, 2520, Settings(), available=4 * 2**30)  # fits: no error
    with pytest.raises(ConfigError, match=r"needs an estimated 26\.3 GB .* above the limit of 3\.2 GB"):
        runner.check_memory(100_000, 2520, Settings(), available=4 * 2**30)


def test_cli_refuses_before_generating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-stock synthetic runs stream: the refusal uses the streamed model (a few batches + summary rows)."""
    from adaptrade.cli import app
    from adaptrade.data import synthetic

    monkeypatch.setattr(runner, "available_memory_bytes", lambda: 2**29)  # 0.5 GB available: limit 0.4 GB

    def never(*a: object, **k: object) -> None:
        raise AssertionError("data generated for a refused run")

    monkeypatch.setattr(synthetic, "generate", never)
    r = CliRunner().invoke(app, ["backtest", "--stocks", "100000", "--bars", "2520", "--no-store"])
    assert r.exit_code == 2
    need = runner.estimate_stream_bytes(100_000, 2520, 50, runner.stream_in_flight(Settings()))
    assert f"estimated {need / 2**30:.1f} GB" in r.output and "Traceback" not in r.output
    assert need < runner.estimate_memory_bytes(100_000, 2520) / 20  # far below the whole-universe model


def test_archive_runs_are_estimated_before_any_file_is_read(tmp_path, sample_dir) -> None:
    """An archive run is bounded by its symbols x the sessions its window can hold; a tiny limit refuses it first."""
    from adaptrade.data import archive

    def never(*a: object, **k: object) -> None:
        raise AssertionError("files read for a refused run")

    req = runner.RunRequest(source="archive", data_dir=sample_dir, start="2015-01-02", end="2016-01-04")
    mp = pytest.MonkeyPatch()
    mp.setattr(archive, "load_archive", never)
    try:
        with pytest.raises(ConfigError, match="above the limit of 0.0 GB"):
            runner.load_data(req, Settings(memory_limit_gb=0.001))
    finally:
        mp.undo()
    bound = runner._archive_sessions_bound(req, Settings())
    assert bound == 253  # NYSE sessions 2015-01-02 .. 2016-01-04
