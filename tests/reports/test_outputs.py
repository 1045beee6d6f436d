"""The output files follow the contract: names, columns, types, fractions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STOCK_COLS = "symbol,total_return,buy_hold_return,benchmark_return,outperformance,win_rate,sharpe,max_drawdown,trades,exposure,recommended"
TRADE_COLS = "symbol,entry_date,entry_price,exit_date,exit_price,shares,pnl,return,bars_held"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adaptrade", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    r = _cli("backtest", "--source", "synthetic", "--stocks", "12", "--bars", "1500", "--seed", "9", "--out", str(d / "out"), "--db", str(d / "runs.duckdb"), cwd=d)
    assert r.returncode == 0, r.stderr
    return d


def test_files_and_headers(synthetic_run: Path) -> None:
    out = synthetic_run / "out"
    for name in ("summary.json", "stocks.csv", "trades.csv", "params.csv", "equity.parquet", "report.html"):
        assert (out / name).exists(), name
    assert (out / "stocks.csv").read_text().splitlines()[0] == STOCK_COLS + ",alpha,beta,annual_return,annual_volatility,sortino,start,end"
    assert (out / "trades.csv").read_text().splitlines()[0] == TRADE_COLS
    assert (out / "params.csv").read_text().splitlines()[0] == "symbol,date,parameter,old_value,new_value,reason"
    eq = pd.read_parquet(out / "equity.parquet")
    assert list(eq.columns) == ["date", "symbol", "equity"]
    assert eq["symbol"].nunique() == 12


def test_stocks_types_and_fractions(synthetic_run: Path) -> None:
    s = pd.read_csv(synthetic_run / "out" / "stocks.csv")
    assert len(s) == 12
    assert s["trades"].dtype.kind == "i"
    assert s["recommended"].dtype == bool
    for col in ("total_return", "buy_hold_return", "benchmark_return", "outperformance", "max_drawdown"):
        assert s[col].dtype.kind == "f"
        assert (s[col].abs() < 50).all()  # fractions, not percent
    assert ((s["win_rate"].dropna() >= 0) & (s["win_rate"].dropna() <= 1)).all()
    assert ((s["exposure"] >= 0) & (s["exposure"] <= 1)).all()
    assert (s["max_drawdown"] <= 0).all()
    np.testing.assert_allclose(s["outperformance"], s["total_return"] - s["benchmark_return"])


def test_trades_dates_and_open_positions(synthetic_run: Path) -> None:
    t = pd.read_csv(synthetic_run / "out" / "trades.csv", dtype={"exit_date": str})
    assert t["entry_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    closed = t[t["exit_date"].notna()]
    assert closed["exit_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (closed["exit_date"] > closed["entry_date"]).all()
    open_ = t[t["exit_date"].isna()]
    assert open_["exit_price"].isna().all()
    assert t.groupby("symbol")["exit_date"].apply(lambda x: x.isna().sum()).max() <= 1
    np.testing.assert_allclose(closed["return"], closed["exit_price"] * (1 - 1e-4) / (closed["entry_price"] * (1 + 1e-4)) - 1, rtol=1e-9)
    s = pd.read_csv(synthetic_run / "out" / "stocks.csv").set_index("symbol")
    counts = closed.groupby("symbol").size()
    for sym, n in counts.items():
        assert s.loc[sym, "trades"] == n


def test_summary_has_settings_and_aggregate(synthetic_run: Path) -> None:
    doc = json.loads((synthetic_run / "out" / "summary.json").read_text())
    st = doc["settings"]
    for key in ("source", "start", "end", "commission_bps", "slippage_bps", "fill", "strategy", "seed"):
        assert key in st, key
    assert st["source"] == "synthetic" and st["seed"] == 9 and st["commission_bps"] == 1.0 and st["slippage_bps"] == 5.0
    agg = doc["aggregate"]
    s = pd.read_csv(synthetic_run / "out" / "stocks.csv")
    assert agg["stocks"] == 12
    assert agg["mean_return"] == pytest.approx(s["total_return"].mean())
    assert agg["median_outperformance"] == pytest.approx(s["outperformance"].median())
    assert agg["beat_benchmark"] == int((s["outperformance"] > 0).sum())
    enough = s[s["trades"] >= agg["min_trades"]].sort_values(["sharpe", "symbol"], ascending=[False, True])
    assert agg["rank_key"] == "sharpe" and agg["best"] == enough["symbol"].head(5).tolist()  # best 5 by the table's key
    assert doc["complete"] is True


def test_params_log_matches_rules(synthetic_run: Path) -> None:
    p = pd.read_csv(synthetic_run / "out" / "params.csv")
    assert set(p["parameter"]) <= {"rsi_period", "buy_threshold", "sell_threshold", "vol_scalar"}
    rp = p[p["parameter"] == "rsi_period"]
    assert ((rp["new_value"] - rp["old_value"]).abs() == 1).all()
    assert rp["new_value"].between(10, 21).all()
    assert p[p["parameter"] == "buy_threshold"]["new_value"].between(20, 35).all()
    assert p[p["parameter"] == "sell_threshold"]["new_value"].between(65, 80).all()
    assert p[p["parameter"] == "vol_scalar"]["new_value"].between(0.5, 2.0).all()
    assert (p["reason"].str.len() > 0).all()


def test_close_fill_is_labelled_optimistic(tmp_path: Path) -> None:
    r = _cli("backtest", "--stocks", "3", "--bars", "300", "--fill", "close", "--no-store", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "OPTIMISTIC" in r.stdout
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "optimistic" in doc["settings"]["fill_note"]
    assert "OPTIMISTIC" in (tmp_path / "o" / "report.html").read_text()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--strategy", "magic"], "strategy"),
        (["--source", "ftp"], "source"),
        (["--rsi-period", "40"], "rsi_period"),
        (["--fill", "later"], "fill"),
        (["--seed", "-1"], "seed"),
        (["--commission-bps", "-1"], "commission"),
        (["--start", "2020-13-01"], "start"),
        (["--end", "garbage"], "end"),
        (["--end", "2030-01-01"], "end"),
        (["--bars", "100000"], "bars"),
        (["--start", "2020-01-01", "--end", "2019-01-01"], "start"),
        (["--source", "archive", "--symbols", "AAPL", "--start", "2030-01-01"], "no bars"),
        (["--slippage-bps", "-50"], "slippage"),
        (["--source", "archive", "--symbols", "NOPE_XYZ"], "NOPE_XYZ"),
        (["--stocks", "3", "--report-symbol", "zzz"], "ZZZ"),
    ],
)
def test_bad_flags_are_clear_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    r = _cli("backtest", "--no-store", "--out", str(tmp_path / "o"), *args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    assert needle in r.stderr + r.stdout
    assert not (tmp_path / "o").exists()


def test_adjusted_basis_without_adj_close_is_refused(tmp_path: Path) -> None:
    """Like must be compared with like: no silent fallback from total return to price-only."""
    src = Path(__file__).resolve().parents[2] / "src" / "adaptrade" / "resources" / "sample" / "AAPL.csv.gz"
    df = pd.read_csv(src)
    folder = tmp_path / "flat"
    folder.mkdir()
    df.drop(columns=["adj_close"]).to_csv(folder / "AAPL.csv", index=False)
    r = _cli("backtest", "--source", "archive", "--data-dir", str(folder), "--symbols", "AAPL", "--no-store", cwd=tmp_path)
    assert r.returncode == 2 and "--prices raw" in r.stderr and "Traceback" not in r.stderr
    r = _cli("backtest", "--source", "archive", "--data-dir", str(folder), "--symbols", "AAPL", "--no-store", "--prices", "raw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "benchmark GSPC" in r.stdout  # raw prices are compared with the price index (shipped copy)


def test_bars_held_counts_the_stocks_own_bars() -> None:
    """A gap in a stock's data or an early end is not counted as bars held."""
    from adaptrade.backtest.engine import run_backtest
    from adaptrade.backtest.results import build_result
    from adaptrade.data.bars import Bars
    from adaptrade.data.synthetic import generate
    from adaptrade.strategy.params import StrategyConfig

    b = generate(["HOLD"], 600, seed=4)
    valid = b.valid.copy()
    valid[0, 300:310] = False
    valid[0, 580:] = False
    nan = lambda a: np.where(valid, a, np.nan)  # noqa: E731
    bars = Bars(dates=b.dates, symbols=b.symbols, open=nan(b.open), high=nan(b.high), low=nan(b.low), close=nan(b.close), volume=nan(b.volume), valid=valid)
    res = build_result(run_backtest(bars, StrategyConfig(kind="fixed")), None, "none")
    traded = np.cumsum(valid[0])
    pos = {d: i for i, d in enumerate(bars.dates.astype("datetime64[ns]"))}
    for r in res.trades.itertuples(index=False):
        a = pos[np.datetime64(r.entry_date, "ns")]
        z = pos[np.datetime64(r.exit_date, "ns")] if not pd.isna(r.exit_date) else 579
        assert r.bars_held == traded[z] - traded[a]
    assert len(res.trades) >= 3


def test_benchmark_return_needs_the_stocks_own_dates() -> None:
    """A benchmark that stops years before the stock gives NaN, not a return over other dates."""
    from adaptrade.backtest.metrics import _value_at_or_before

    bench = np.r_[np.linspace(100, 200, 50), np.full(50, np.nan)]
    got = _value_at_or_before(bench, np.array([0, 49, 52, 99]))
    assert got[0] == 100 and got[1] == 200 and got[2] == 200  # a 3-bar gap is the same date range
    assert np.isnan(got[3])  # 50 bars later is not


def test_reused_out_folder_never_mixes_runs_and_empty_runs_write_no_report(tmp_path: Path) -> None:
    from adaptrade.parallel import runner
    from adaptrade.reports.files import write_outputs
    from adaptrade.settings import load_settings

    out = tmp_path / "o"
    out.mkdir()
    (out / "orders.csv").write_text("stale from a portfolio run\n")
    (out / "report.html").write_text("stale\n")
    settings = load_settings(db_path=tmp_path / "x.duckdb")
    req = runner.RunRequest(symbols=("AAA", "BBB"), bars=300)

    def boom(batch: object) -> object:
        raise RuntimeError("every batch fails")

    res, _ = runner.run(req, settings, fn=boom)  # type: ignore[arg-type]
    write_outputs(res, out)
    assert not (out / "orders.csv").exists() and not (out / "report.html").exists()
    doc = json.loads((out / "summary.json").read_text())
    assert doc["complete"] is False and doc["failed_symbols"] == ["AAA", "BBB"]


def test_whole_shares_on_adjusted_prices_is_refused(tmp_path: Path) -> None:
    r = _cli("backtest", "--source", "archive", "--symbols", "AAPL", "--whole-shares", "--no-store", cwd=tmp_path)
    assert r.returncode == 2 and "--prices raw" in r.stderr
    r = _cli("backtest", "--source", "archive", "--symbols", "AAPL", "--whole-shares", "--prices", "raw", "--no-store", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_backtest_liquidity_filter_uses_only_pre_start_volume(tmp_path: Path) -> None:
    """--min-volume keeps the stocks liquid before --start; flags that cannot work are refused."""
    r = _cli("backtest", "--source", "archive", "--symbols", "AAPL,MSFT,COST", "--start", "2016-01-04", "--min-volume", "5000000",
             "--no-store", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kept = pd.read_csv(tmp_path / "o" / "stocks.csv")["symbol"].tolist()
    notes = json.loads((tmp_path / "o" / "summary.json").read_text())["settings"]["notes"]
    assert "COST" not in kept and {"AAPL", "MSFT"} <= set(kept)  # COST trades ~2M shares a day
    assert any(n.startswith("dropped COST") for n in notes)
    for args, needle in ((["--min-volume", "1"], "--start"), (["--source", "synthetic", "--start", "2016-01-04", "--min-volume", "1"], "archive")):
        r = _cli("backtest", "--source", "archive", "--symbols", "AAPL", "--no-store", *args, cwd=tmp_path)
        assert r.returncode == 2 and needle in r.stderr
