"""Portfolio mode: one account over many stocks (compiled loop, orders, fills, risk, results)."""
