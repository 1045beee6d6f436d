"""Historical daily bars from Alpaca's market-data API (alpaca-py's StockHistoricalDataClient), as `Bars`:
the warm-up half of the `alpaca` feed (its live stream and `--feed alpaca` itself are not built)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adaptrade.data.bars import Bars
from adaptrade.errors import ConfigError, DataError

NEW_YORK = ZoneInfo("America/New_York")


def warmup_bars(settings: Any, symbols: list[str], start: str, end: str, feed: str = "iex") -> Bars:
    """Daily bars of `symbols` from `start` to `end` (ISO dates, inclusive), split- and dividend-adjusted,
    aligned on the union of their sessions (a symbol without a bar that day: invalid, NaN)."""
    from alpaca.data.enums import Adjustment, DataFeed
    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    if settings.alpaca_key_id is None or settings.alpaca_secret_key is None:
        raise ConfigError("Alpaca market data needs ADAPTRADE_ALPACA_KEY_ID and ADAPTRADE_ALPACA_SECRET_KEY", field="alpaca_key_id")
    client = StockHistoricalDataClient(settings.alpaca_key_id.get_secret_value(), settings.alpaca_secret_key.get_secret_value(),
                                       url_override=settings.alpaca_data_url or None)
    req = StockBarsRequest(symbol_or_symbols=list(symbols), timeframe=TimeFrame.Day, adjustment=Adjustment.ALL,
                           start=datetime.fromisoformat(start), end=datetime.fromisoformat(end), feed=DataFeed(feed))
    data = client.get_stock_bars(req).data
    rows = {s: {np.datetime64(b.timestamp.astimezone(NEW_YORK).date(), "D"): b for b in data.get(s, [])} for s in symbols}
    dates = np.array(sorted(set().union(*[set(r) for r in rows.values()])), dtype="datetime64[D]")
    if len(dates) == 0:
        raise DataError(f"Alpaca returned no daily bars for {','.join(symbols)} between {start} and {end}", field="symbols")
    shape = (len(symbols), len(dates))
    arr = {k: np.full(shape, np.nan) for k in ("open", "high", "low", "close", "volume")}
    valid = np.zeros(shape, dtype=np.bool_)
    col = {d: j for j, d in enumerate(dates)}
    for i, s in enumerate(symbols):
        for d, b in rows[s].items():
            j = col[d]
            for k in arr:
                arr[k][i, j] = float(getattr(b, k))
            valid[i, j] = True
    return Bars(dates, tuple(symbols), arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], valid,
                source="alpaca")
