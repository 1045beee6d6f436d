"""A portfolio-mode paper session on the real Redis stream: every fill and parameter change of its account
is published (kind `fill` / `param`, `source: paper`), its stop-loss exits and breaker trips as `alert`s,
and the session's metrics count the same fills."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptrade.live.feeds import ReplayFeed
from adaptrade.live.portfolio_loop import PortfolioPaperLoop
from adaptrade.live.session_hooks import ALERT_RULES, SessionHooks
from adaptrade.live.state import Lease
from adaptrade.monitoring.paper import PaperMetrics
from adaptrade.portfolio.layout import N_CHANGES, N_EVENTS, N_FILLS, RE_RULE
from adaptrade.risk.limits import RULES, RiskLimits
from adaptrade.strategy.params import StrategyConfig
from tests.live.alpaca_standin.fixtures import sample_bars


def test_portfolio_session_publishes_every_fill_change_and_risk_alert(sample_dir: Path, tmp_path: Path, bus: object) -> None:
    bars, _ = sample_bars(sample_dir, "AAPL,MSFT,NVDA,AMZN", "2018-01-01", "2020-12-31")
    cfg = StrategyConfig(buy=35.0, sell=65.0, min_trades_to_adapt=2)
    limits = RiskLimits(stop_loss_pct=0.03, kelly_min_trades=2)  # tight stops: stop-loss exits happen
    loop = PortfolioPaperLoop(tmp_path, ReplayFeed(bars), cfg, limits, {"test": 1})
    metrics = PaperMetrics()
    SessionHooks("pf", metrics, bus).attach(loop)
    lease = Lease(tmp_path)
    lease.acquire("pf")
    try:
        assert loop.run(lease) == "done"
    finally:
        lease.release()
    c = loop.a["counts"]
    events = [(f["kind"], json.loads(f["data"])) for _, f in bus._client.xrange(bus.stream)]  # type: ignore[attr-defined]
    fills = [d for k, d in events if k == "fill"]
    params = [d for k, d in events if k == "param"]
    alerts = [d for k, d in events if k == "alert"]
    assert len(fills) == int(c[N_FILLS]) > 0 and len(params) == int(c[N_CHANGES]) > 0
    rules = [RULES[int(e[RE_RULE])] for e in loop.a["events"][: int(c[N_EVENTS])]]
    assert len(alerts) == sum(r in ALERT_RULES for r in rules) > 0
    assert {a["name"] for a in alerts} <= {f"risk_{r}" for r in ALERT_RULES}
    assert all(d["source"] == "paper" and d["session"] == "pf" for _, d in events)
    assert {f["symbol"] for f in fills} <= set(bars.symbols) and all(f["date"] >= "2018-01-01" for f in fills)
    text = metrics.exposition().decode()
    n_buy = sum(f["side"] == "buy" for f in fills)
    assert f'adaptrade_paper_fills_total{{session="pf",side="buy"}} {float(n_buy)}' in text
