"""Warm-up bars through alpaca-py's StockHistoricalDataClient from the stand-in's `/v2/stocks/bars`:
the sample's daily bars come back aligned, paginated, with gaps as invalid, and an empty answer is one clear error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from adaptrade.errors import DataError
from adaptrade.live.alpaca_history import warmup_bars
from tests.live.alpaca_standin.fixtures import standin_settings
from tests.live.alpaca_standin.market import StandinMarket
from tests.live.alpaca_standin.server import StandinServer


@pytest.fixture()
def server(sample_dir: Path) -> Iterator[StandinServer]:
    from adaptrade.commands.backtest import _request
    from adaptrade.parallel.runner import load_data
    from adaptrade.settings import Settings

    s = Settings()
    req = _request("archive", sample_dir, "AAPL,MSFT", None, None, 0, 0, "2020-01-01", "2020-06-30", "adaptive", 14, 30, 70,
                   None, None, None, False, s)
    bars = load_data(req, s).bars
    m = StandinMarket()
    ny = ZoneInfo("America/New_York")
    for i, sym in enumerate(bars.symbols):
        m.daily[sym] = [{"t": datetime.combine(d.astype(object), time(0), ny).astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z"),
                         "o": float(bars.open[i, j]), "h": float(bars.high[i, j]), "l": float(bars.low[i, j]),
                         "c": float(bars.close[i, j]), "v": float(bars.volume[i, j]), "n": 1, "vw": float(bars.close[i, j])}
                        for j, d in enumerate(bars.dates) if bars.valid[i, j] and not (sym == "MSFT" and j == 10)]
    m.page_cap = 50  # several pages: alpaca-py follows next_page_token
    srv = StandinServer(m).start()
    srv.source = bars  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_warmup_bars_equal_the_served_archive(server: StandinServer) -> None:
    src = server.source  # type: ignore[attr-defined]
    got = warmup_bars(standin_settings(server), ["AAPL", "MSFT"], "2020-01-01", "2020-06-30")
    assert got.symbols == ("AAPL", "MSFT") and np.array_equal(got.dates, src.dates)
    assert np.array_equal(got.close[0], src.close[0]) and np.array_equal(got.open[1][got.valid[1]], src.open[1][got.valid[1]])
    assert not got.valid[1, 10] and np.isnan(got.close[1, 10]) and got.valid.sum() == src.valid.sum() - 1
    part = warmup_bars(standin_settings(server), ["AAPL"], "2020-03-02", "2020-03-31")
    assert str(part.dates[0]) == "2020-03-02" and str(part.dates[-1]) == "2020-03-31" and part.valid.all()


def test_no_bars_is_one_clear_error(server: StandinServer) -> None:
    with pytest.raises(DataError, match="no daily bars for ZZZZ"):
        warmup_bars(standin_settings(server), ["ZZZZ"], "2020-01-01", "2020-06-30")
