"""The dashboard in real headless Chromium (Playwright driving Debian's /usr/bin/chromium; no browser
download): the page loads, the ranking shows a real run's rows and sorts, charts render, a backtest
started from the form shows progress and finishes (its fills, published while it ran, in the live feed), a published
fill appears in the live feed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import TOKEN, Server, Store, ci

pytestmark = pytest.mark.service
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if ci():
            pytest.fail(f"{CHROMIUM} not installed (required when CI=true)")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.mark.parametrize("store", ["duckdb"], indirect=True)  # the page reads the API, tested on both backends elsewhere
def test_dashboard_shows_runs_charts_jobs_and_events(browser, server: Server, store: Store) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("#runs tbody tr")
    assert page.locator("#runs tbody tr").count() >= 2
    page.locator(f'#runs tbody tr[data-id="{store.synthetic_run}"]').click()
    page.wait_for_function(f"document.getElementById('run-title').textContent === '{store.synthetic_run}'")
    page.wait_for_function("document.querySelectorAll('#ranking tbody tr').length === 8")
    shown = set(page.locator("#ranking tbody tr").evaluate_all("rows => rows.map(r => r.dataset.symbol)"))
    assert shown == set(store.symbols)
    # sortable: click total_return twice -> ascending
    header = page.locator('#ranking th[data-col="total_return"]')
    header.click()
    header.click()
    col = page.locator("#ranking thead th").evaluate_all("ths => ths.map(t => t.dataset.col)").index("total_return")
    values = page.locator(f"#ranking tbody tr td:nth-child({col + 1})").all_inner_texts()
    assert [float(v) for v in values] == sorted(float(v) for v in values)
    page.wait_for_selector("#equity .main-svg")
    page.wait_for_selector("#drawdown .main-svg")
    assert page.locator("#equity .scatterlayer .trace").count() >= 2  # strategy line + buy & hold / benchmark
    # bar by bar: average equity, buy & hold and the benchmark as three lines of every bar, the drawdown of the first
    page.wait_for_function("(document.getElementById('equity').data || []).length === 3 && "
                           "document.getElementById('equity').data[0].x.length === 1260")
    traces = page.evaluate("document.getElementById('equity').data.map(t => ({name: t.name, mode: t.mode, n: t.y.length, "
                           "nulls: t.y.filter(v => v === null).length}))")
    assert [t["n"] for t in traces] == [1260] * 3 and all(t["mode"] == "lines" and t["nulls"] == 0 for t in traces), traces
    assert [t["name"] for t in traces] == ["average equity (mean of stocks)", "buy & hold (mean of stocks)", "SYNTH-SP500"], traces
    assert page.locator("#equity .scatterlayer .trace").count() == 3
    dd = page.evaluate("document.getElementById('drawdown').data[0].y")
    assert len(dd) == 1260 and max(dd) == 0.0 and min(dd) < -0.01
    page.locator("#ranking tbody tr").first.click()
    page.wait_for_selector("#params .main-svg")

    # a backtest started from the form (with the token) shows progress and finishes
    page.wait_for_function("document.getElementById('stream-status').textContent === '(connected)'")
    page.fill("#f-token", TOKEN)
    page.fill("#f-stocks", "4")
    page.fill("#f-bars", "300")
    page.click("#start button")
    page.wait_for_function("document.getElementById('job-status').textContent.includes('done')", timeout=60_000)
    assert page.locator("#progress").evaluate("p => p.value") == 1
    page.wait_for_selector("#feed li.ev-job")
    # the job's own fills, published batch by batch while it ran, are in the feed
    page.wait_for_function("[...document.querySelectorAll('#feed li.ev-fill')].some(li => li.textContent.includes('\"job_id\":\"job-'))")
    # a fill published on the bus appears in the live feed
    server.service.bus.publish("fill", {"run_id": "live", "symbol": "ZZTEST", "side": "buy", "price": 1.5, "shares": 2})
    page.wait_for_function("[...document.querySelectorAll('#feed li.ev-fill')].some(li => li.textContent.includes('ZZTEST'))")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == []
    page.close()
