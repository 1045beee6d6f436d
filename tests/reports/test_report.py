"""The HTML report: self-contained, valid, bounded in size, and quick for a large universe."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adaptrade.backtest.engine import run_backtest
from adaptrade.reports.html import (
    MAX_POINTS,
    _downsample,
    _normalised,
    _params_figure,
    write_report,
)
from adaptrade.backtest.results import BacktestResult, build_result
from adaptrade.data.synthetic import generate, synthetic_benchmark
from adaptrade.errors import UnknownSymbolError
from adaptrade.strategy.params import StrategyConfig

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _result(n: int, bars: int = 1500, seed: int = 5, **cfg: object) -> BacktestResult:
    b = generate([f"S{i:03d}" for i in range(n)], bars, seed)
    out = run_backtest(b, StrategyConfig(**cfg))  # type: ignore[arg-type]
    return build_result(out, synthetic_benchmark(b.dates, seed), "^SYNTH-SPX", settings={"source": "synthetic", "min_trades_rank": 0})


@pytest.fixture(scope="module")
def three() -> BacktestResult:
    return _result(3)


@pytest.fixture(scope="module")
def many() -> BacktestResult:
    return _result(200)


class _Checker(HTMLParser):
    """Tag balance and external references of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.external: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "script" and a.get("src") or tag == "link" and a.get("href"):
            self.external.append(f"{tag} {a}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def _check(page: str) -> _Checker:
    c = _Checker()
    c.feed(page)
    c.close()
    return c


def _payload(page: str) -> int:
    """Page size without the inlined plotly.js bundle."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    assert page.count(js) == 1, "plotly.js must be inlined exactly once"
    return len(page) - len(js)


def test_page_is_valid_self_contained_html(tmp_path: Path, three: BacktestResult) -> None:
    path = write_report(three, tmp_path / "sub" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    c = _check(page)
    assert not c.errors and c.stack == [], (c.errors, c.stack)
    assert c.external == [] and not re.search(r"<script[^>]*\bsrc=", page)
    from plotly.offline import get_plotlyjs

    own = page.replace(get_plotlyjs(), "")  # the bundle itself mentions cdn.plot.ly (geo topojson only)
    assert "cdn.plot.ly" not in own and "https://" not in own
    # equity, average, stock drawdown, average drawdown, monthly heatmap, parameters (issue 11 added two);
    # analytics (issue 13): the account's monthly heatmap, rolling vol/Sharpe, underwater curve
    assert page.count('class="plotly-graph-div"') == 9
    assert c.tags["table"] >= 3  # settings + yearly returns + the full ranking
    assert "synthetic mean-reverting data flatters RSI strategies" in page
    assert "OPTIMISTIC" not in page
    assert "commission 1 bps, slippage 5 bps" in page and "next_open" in page
    for col in ("total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate", "sharpe", "max_drawdown", "trades", "exposure", "recommended"):
        assert f"<th>{col}</th>" in page
    assert re.search(r"<td>-?\d+\.\d%</td>", page)  # percentages formatted


def test_default_symbol_is_best_sharpe_and_choice_is_honoured(tmp_path: Path, three: BacktestResult) -> None:
    best = three.stocks.sort_values("sharpe", ascending=False)["symbol"].iloc[0]
    page = write_report(three, tmp_path / "a.html").read_text()
    assert f"{best}: equity vs buy &amp; hold" in page or f"{best}: equity vs buy & hold" in page
    other = next(s for s in three.stocks["symbol"] if s != best)
    page = write_report(three, tmp_path / "b.html", symbol=other).read_text()
    assert f"{other}: parameter evolution" in page
    with pytest.raises(UnknownSymbolError):
        write_report(three, tmp_path / "c.html", symbol="NOPE")


def test_close_fill_is_flagged(tmp_path: Path) -> None:
    res = _result(2, 600, fill="close")
    page = write_report(res, tmp_path / "r.html").read_text()
    assert "OPTIMISTIC: fills at the signal bar&#x27;s close" in page or "OPTIMISTIC: fills at the signal bar's close" in page


def test_size_grows_only_by_the_ranking_rows(tmp_path: Path, three: BacktestResult, many: BacktestResult) -> None:
    small = write_report(three, tmp_path / "s.html").read_text()
    big = write_report(many, tmp_path / "b.html").read_text()
    assert abs(len(big) - len(small)) / len(small) < 0.20
    # without the plotly.js bundle: the figures are a fixed set; the full ranking (issue 11) adds one row per stock
    ps, pb = _payload(small), _payload(big)
    assert (pb - ps) / (200 - 3) < 1500, (ps, pb)  # bytes per extra stock: its ranking row only
    yearly = len(re.findall(r"<tr><th>\d{4}</th>", big))
    assert _check(big[:big.index('<h2 id="analytics"')]).tags["tr"] == 1 + 200 + 1 + yearly + 11  # ranking header + rows, yearly header + rows, settings
    series = [b.replace("\\u002f", "/") for b in re.findall(r'"bdata":"([^"]*)"', big)]  # plotly's JSON escapes "/"
    assert 8 <= len(series) <= 19  # a fixed set of series, not one per stock (5 of them the analytics' rolling and underwater)
    assert max(len(base64.b64decode(s)) // 8 for s in series) <= MAX_POINTS + 2


def test_no_benchmark_and_nan_benchmark(tmp_path: Path, three: BacktestResult) -> None:
    page = write_report(replace(three, benchmark_close=None), tmp_path / "n.html").read_text()
    assert page.count('class="plotly-graph-div"') == 9
    bench = three.benchmark_close.copy()
    bench[:100] = np.nan
    bench[500:510] = np.nan
    _, _, b = _normalised(replace(three, benchmark_close=bench))
    assert b is not None and np.all(np.isnan(b[:, :100])) and np.isfinite(b[:, 100:]).all()


def test_normalised_at_each_stocks_first_bar(three: BacktestResult) -> None:
    bars = three.output.bars
    valid = bars.valid.copy()
    valid[1, :200] = False  # a later listing
    late = replace(three, output=replace(three.output, bars=replace(bars, valid=valid, close=np.where(valid, bars.close, np.nan))))
    strat, bh, bench = _normalised(late)
    assert np.isnan(strat[1, :200]).all() and np.isnan(bh[1, :200]).all()
    assert strat[1, 200] == bh[1, 200] == bench[1, 200] == 1.0
    assert strat[0, 0] == bh[0, 0] == bench[0, 0] == 1.0
    assert bh[0, -1] == pytest.approx(bars.close[0, -1] / bars.close[0, 0])


def test_parameter_steps_start_at_config(three: BacktestResult) -> None:
    sym = three.params["symbol"].astype(str).value_counts().index[0]
    fig = _params_figure(three, sym, three.output.bars.index_of(sym))
    names = [t["name"] for t in fig["data"]]
    assert names == ["rsi_period", "buy_threshold", "sell_threshold", "vol_scalar"]
    cfg = three.output.config
    firsts = [np.frombuffer(base64.b64decode(t["y"]["bdata"]), "<f8")[0] for t in fig["data"]]
    assert firsts == [cfg.rsi_period, cfg.buy, cfg.sell, 1.0]
    assert all(t["line"]["shape"] == "hv" for t in fig["data"])
    log = three.params[(three.params["symbol"] == sym) & (three.params["parameter"] == "rsi_period")]
    if len(log):
        last = np.frombuffer(base64.b64decode(fig["data"][0]["y"]["bdata"]), "<f8")[-1]
        assert last == log["new_value"].iloc[-1]


def test_downsample_keeps_extremes_and_bounds_points() -> None:
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.standard_normal(10_000))
    y[1234] = 1e6
    y[7777] = -1e6
    y[50:60] = np.nan
    x = np.arange(y.size)
    xs, ys = _downsample(x, y)
    assert len(ys) <= MAX_POINTS + 2 and np.all(np.diff(xs) > 0)
    assert ys.max() == 1e6 and ys.min() == -1e6 and xs[0] == 0 and xs[-1] == y.size - 1
    assert np.isfinite(ys).all()
    short = np.arange(10.0)
    assert np.array_equal(_downsample(short, short)[1], short)


def test_500_stocks_report_stays_a_fixed_size(tmp_path: Path) -> None:
    """The figures are a fixed set of downsampled series, so 500 stocks cost no more page than 5 (its speed
    is measured in benchmarks/, not here)."""
    small = write_report(_result(5, 2520), tmp_path / "small.html", analytics=False).stat().st_size
    big = write_report(_result(500, 2520), tmp_path / "big.html", analytics=False).stat().st_size
    ranking_rows = 495 * 1000  # the two ranking tables grow ~730 bytes per stock; one series per stock would add megabytes
    assert big < small + ranking_rows, (small, big)


def test_figures_pass_plotly_validation(tmp_path: Path, three: BacktestResult, monkeypatch: pytest.MonkeyPatch) -> None:
    import plotly.graph_objects as go

    from adaptrade.reports import plotly_html

    real = plotly_html.figure_div
    seen = []

    def validating(fig: dict, *a: object, **kw: object) -> str:
        go.Figure(fig)  # raises on any unknown or malformed property
        seen.append(fig["layout"]["title"]["text"])
        return real(fig, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(plotly_html, "figure_div", validating)
    write_report(three, tmp_path / "r.html")
    assert len(seen) == 9  # 6 figures and the analytics' 3


def _account(res: BacktestResult) -> pd.DataFrame:
    dates = np.datetime_as_string(res.output.bars.dates, unit="D")
    eq = 1e6 * np.cumprod(1.0 + np.random.default_rng(1).normal(0.0003, 0.01, dates.size))
    peak = np.maximum.accumulate(eq)
    return pd.DataFrame({"date": dates, "equity": eq, "cash": eq * 0.3, "gross": np.full(dates.size, 0.7),
                         "drawdown": 1.0 - eq / peak, "breaker": np.zeros(dates.size, dtype=bool)})


def test_portfolio_account_figures_come_first_and_stay_bounded(tmp_path: Path, three: BacktestResult) -> None:
    from adaptrade.reports.html import ACCOUNT_DRAWDOWN_TITLE

    plain = write_report(three, tmp_path / "p.html").read_text()
    assert "portfolio mode" not in plain and "Account drawdown" not in plain
    page = write_report(three, tmp_path / "a.html", account=_account(three)).read_text()
    c = _check(page)
    assert not c.errors and c.stack == []
    assert page.count('class="plotly-graph-div"') == 6  # account, its drawdown, the featured stock's parameters; 3 analytics
    assert "portfolio mode: one account" in page and "Average of 3 stocks" not in page  # no sleeve vs buy & hold
    acct, dd, per_stock = page.index("Account (portfolio mode: one account)"), page.index(ACCOUNT_DRAWDOWN_TITLE), page.index("parameter evolution")
    assert acct < dd < per_stock  # above the per-stock figure
    series = [b.replace("\\u002f", "/") for b in re.findall(r'"bdata":"([^"]*)"', page)]  # plotly's JSON escapes "/"
    assert max(len(base64.b64decode(s)) // 8 for s in series) <= MAX_POINTS + 2
    # two figures, <= 2 series each; per point ~11 bytes of base64 y and a quoted ISO date x (~13 bytes)
    assert _payload(page) < _payload(plain) + 4 * (MAX_POINTS + 2) * 30


def test_portfolio_account_curve_is_normalised(tmp_path: Path, three: BacktestResult) -> None:
    from adaptrade.reports.html import _account_figures

    acct = _account(three)
    equity, drawdown = _account_figures(acct, three, "^SYNTH-SPX")
    eq_trace, ew_trace, bench_trace = equity["data"]
    assert ew_trace["name"] == "equal-weight buy & hold"
    y = np.frombuffer(base64.b64decode(eq_trace["y"]["bdata"]), dtype="<f8")
    assert y[0] == 1.0 and np.isclose(y[-1], acct["equity"].iloc[-1] / acct["equity"].iloc[0])
    b = np.frombuffer(base64.b64decode(bench_trace["y"]["bdata"]), dtype="<f8")
    assert b[0] == 1.0 and bench_trace["name"] == "^SYNTH-SPX"
    d = np.frombuffer(base64.b64decode(drawdown["data"][0]["y"]["bdata"]), dtype="<f8")
    assert d.max() <= 0.0 and np.isclose(d.min(), -np.abs(acct["drawdown"]).max())
