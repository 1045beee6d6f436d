"""Column layouts of the portfolio loop's per-stock account rows and its record buffers (constants that
numba compiles into the loop: this file is part of the numba cache key, see adaptrade.__init__)."""

from __future__ import annotations

# per-stock account row pos[i, POS_*]
(POS_SHARES, POS_COST, POS_REALIZED, POS_LAST_CLOSE, POS_PAPER, POS_PAPER_PENDING, POS_EXITING, POS_EXIT_PROCEEDS,
 POS_AVG_WIN, POS_AVG_LOSS, POS_ENTRY_T, POS_EXIT_COST) = range(12)
POS_FIELDS = 12

# active order of a stock act[i, ACT_*] (ACT_ID = -1: none)
# (type, time in force, creation bar and reason live in the order buffer; bars worked counts calendar bars)
# ACT_QTY = the request in the order's own unit (buys: notional, sells: shares); ACT_FILLED_NOTIONAL = its
# filled amount in the notional unit (buys: cash spent incl. commission, sells: shares x price)
(ACT_ID, ACT_SIDE, ACT_TYPE, ACT_LIMIT, ACT_REM_NOTIONAL, ACT_REM_QTY, ACT_FILLED, ACT_FILLED_VALUE, ACT_MAX_BARS, ACT_BARS_WORKED,
 ACT_ADV, ACT_VOL, ACT_QTY, ACT_FILLED_NOTIONAL) = range(14)
ACT_FIELDS = 14

# order buffer (row = order id). An order has one unit: a buy is a notional (dollar) order (O_QTY NaN,
# O_NOTIONAL = the cash it may spend, commission included); a sell is a share order (O_QTY shares,
# O_NOTIONAL NaN). O_FILLED = shares filled; O_FILLED_NOTIONAL = buys: cash spent (fill value + commission,
# the unit of O_NOTIONAL), sells: fill value (shares x price);
# O_EST_QTY = the share estimate at the signal close the cost estimate and order type were chosen from.
(O_SYM, O_SIDE, O_TYPE, O_TIF, O_LIMIT, O_QTY, O_NOTIONAL, O_CREATED_T, O_STATUS, O_FILLED, O_AVG_PX,
 O_REASON, O_LAST_T, O_EST_COST_BPS, O_FILLED_NOTIONAL, O_EST_QTY) = range(16)
ORDER_FIELDS = 16

# fill buffer
F_ORDER, F_SYM, F_SIDE, F_QTY, F_PX, F_T, F_COMMISSION, F_IMPACT_BPS = range(8)
FILL_FIELDS = 8

# order state history: H_WHEN 0 = at the bar's open (fills), 1 = at its close (new, cancels)
H_ORDER, H_T, H_STATUS, H_FILLED, H_WHEN = range(5)
HIST_FIELDS = 5

# trades: the per-stock layout (backtest.kernel.T_*) plus these two
PT_PAPER, PT_EXIT_REASON = 8, 9
PTRADE_FIELDS = 10
EXIT_REASONS = ("signal", "stop_pct", "stop_vol", "")  # PT_EXIT_REASON codes (3 = still open)

# risk events: symbol -1 = the account
RE_T, RE_SYM, RE_RULE, RE_BEFORE, RE_AFTER = range(5)
RISK_EVENT_FIELDS = 5

# counters returned by the loop
N_ORDERS, N_FILLS, N_HIST, N_TRADES, N_CHANGES, N_EVENTS = range(6)
N_COUNTERS = 6
