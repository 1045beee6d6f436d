"""The pure-Python tax lot matching as it was before the speed-up of issue 13 (pandas per account), kept
as the test oracle for adaptrade.analytics.tax: the same lots and summaries on the same transactions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import pandas as pd

METHODS = ("fifo", "lifo", "hifo", "mintax")
LOT_COLUMNS = ["symbol", "lot_id", "acquired", "disposed", "quantity", "cost_basis", "proceeds", "gain", "term",
               "wash_sale_disallowed", "basis_adjustment"]
SUMMARY_COLUMNS = ["year", "short_term_gain", "long_term_gain", "wash_sale_disallowed", "tax"]
WASH_DAYS = 30
EPS = 1e-9


@dataclass
class Lot:
    lot_id: str
    buy: int  # index of the purchase that made it
    bought: int  # date ordinal
    acquired: int  # date ordinal: start of the holding period (earlier after a wash sale)
    qty: float
    basis: float  # total, adjustments included
    adjustment: float = 0.0
    wash_cap: float = 0.0  # shares still available as wash-sale replacement


@dataclass
class _Pending:
    shares: float
    amount: float
    carry: int  # days


@dataclass
class _Account:
    symbol: str
    lots: list[Lot] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    n: int = 0
    cuts: int = 0


@lru_cache(maxsize=100_000)
def _anniversary(acquired: int) -> int:
    """The ordinal of the acquisition's first anniversary (Feb 29 -> Feb 28)."""
    d = date.fromordinal(acquired)
    try:
        return d.replace(year=d.year + 1).toordinal()
    except ValueError:
        return d.replace(year=d.year + 1, day=28).toordinal()


def long_term(acquired: Any, disposed: Any) -> bool:
    """Held more than one year: disposed after the anniversary of the acquisition (366 days can still be one year).
    Dates as ordinals or Timestamps."""
    a = acquired if isinstance(acquired, int) else pd.Timestamp(acquired).date().toordinal()
    d = disposed if isinstance(disposed, int) else pd.Timestamp(disposed).date().toordinal()
    return d > _anniversary(a)


def marks(run: dict[str, Any]) -> dict[str, float]:
    """Last price per symbol for open lots: an open trade's mark (entry price + P&L per share), else the last fill price."""
    t = run.get("trades")
    out: dict[str, float] = {}
    fills = run.get("fills")
    if fills is not None and len(fills):
        out.update(dict(zip(fills["symbol"].astype(str), fills["price"].astype(float))))
    if t is not None and len(t):
        o = t[t["exit_date"].isna() & (t["shares"] > 0)]
        out.update(dict(zip(o["symbol"].astype(str), (o["entry_price"] + o["pnl"] / o["shares"]).astype(float))))
    return out


def transactions(run: dict[str, Any]) -> pd.DataFrame:
    """account, symbol, date, side, quantity, price, fee in execution order, from fills or trades."""
    fills = run.get("fills")
    if fills is not None and len(fills) and "account" in run and len(run["account"]):
        f = fills.reset_index(drop=True)
        return pd.DataFrame({"account": "ACCOUNT", "symbol": f["symbol"].astype(str),
                             "date": pd.to_datetime(f["timestamp"].astype(str).str.slice(0, 10)), "side": f["side"].astype(str),
                             "quantity": f["quantity"].astype(float), "price": f["price"].astype(float),
                             "fee": f["commission"].astype(float), "seq": range(len(f))})
    t = run["trades"].reset_index(drop=True)
    sym = t["symbol"].astype(str)
    closed = t["exit_date"].notna()
    cost = (t["shares"] * (t["exit_price"] - t["entry_price"]) - t["pnl"]).where(closed, 0.0).clip(lower=0.0)
    buys = pd.DataFrame({"account": sym, "symbol": sym, "date": pd.to_datetime(t["entry_date"]), "side": "buy",
                         "quantity": t["shares"], "price": t["entry_price"], "fee": cost, "seq": 2 * t.index + 1})
    sells = pd.DataFrame({"account": sym, "symbol": sym, "date": pd.to_datetime(t["exit_date"]), "side": "sell",
                          "quantity": t["shares"], "price": t["exit_price"], "fee": 0.0, "seq": 2 * t.index})[closed]
    return pd.concat([buys, sells], ignore_index=True)


def _order(lots: list[Lot], method: str, price: float, day: int, rates: tuple[float, float]) -> list[Lot]:
    if method == "fifo":
        return sorted(lots, key=lambda lt: (lt.bought, lt.buy))
    if method == "lifo":
        return sorted(lots, key=lambda lt: (lt.bought, lt.buy), reverse=True)
    if method == "hifo":
        return sorted(lots, key=lambda lt: (-lt.basis / lt.qty, lt.bought, lt.buy))
    if method == "mintax":
        def tax(lt: Lot) -> float:
            g = price - lt.basis / lt.qty
            return g * (rates[1] if long_term(lt.acquired, day) else rates[0])
        return sorted(lots, key=lambda lt: (tax(lt), -lt.basis / lt.qty, lt.bought, lt.buy))
    raise ValueError(f"unknown lot method '{method}' ({'|'.join(METHODS)})")


def _split(acc: _Account, lot: Lot, shares: float) -> Lot:
    """Cut `shares` off `lot` as a new lot (same purchase); returns the new piece."""
    frac = shares / lot.qty
    acc.cuts += 1
    piece = Lot(f"{lot.lot_id}.{acc.cuts}", lot.buy, lot.bought, lot.acquired, shares, lot.basis * frac,
                lot.adjustment * frac, min(lot.wash_cap, shares))
    lot.qty -= shares
    lot.basis -= piece.basis
    lot.adjustment -= piece.adjustment
    lot.wash_cap = min(lot.wash_cap, lot.qty)
    acc.lots.append(piece)
    return piece


def _account_lots(ev: pd.DataFrame, method: str, rates: tuple[float, float]) -> _Account:
    """Run the lots of one account and symbol through its transactions."""
    acc = _Account(str(ev["symbol"].iloc[0]))
    ev = ev.sort_values(["date", "seq"]).reset_index(drop=True)
    dates = [x.toordinal() for x in pd.to_datetime(ev["date"]).dt.date]
    sides = [str(x) for x in ev["side"]]
    qtys, prices, fees = (ev[c].astype(float).tolist() for c in ("quantity", "price", "fee"))
    buy_cap = {i: qtys[i] for i in range(len(ev)) if sides[i] == "buy"}
    pending: dict[int, list[_Pending]] = {}
    for i in range(len(ev)):
        d, q, price, fee = dates[i], qtys[i], prices[i], fees[i]
        if sides[i] == "buy":
            acc.n += 1
            lot = Lot(f"{acc.symbol}-{acc.n}", i, d, d, q, q * price + fee, 0.0, buy_cap[i])
            acc.lots.append(lot)
            for p in pending.pop(int(i), []):  # replacement shares of an earlier loss sale
                piece = _split(acc, lot, p.shares) if p.shares < lot.qty - EPS else lot
                piece.basis += p.amount
                piece.adjustment += p.amount
                piece.acquired = piece.bought - p.carry
                piece.wash_cap = 0.0
            continue
        pps = (q * price - fee) / q
        left = q
        acc.lots = [lt for lt in acc.lots if lt.qty > EPS]
        for lot in _order(acc.lots, method, pps, d, rates):
            if left <= EPS:
                break
            take = min(left, lot.qty)
            sold = _split(acc, lot, take) if take < lot.qty - EPS else lot
            left -= take
            cost, proceeds = sold.basis, pps * take
            gain = proceeds - cost
            disallowed = 0.0
            if gain < -EPS:
                need = take
                for other in sorted((lt for lt in acc.lots if lt.qty > EPS and lt.wash_cap > EPS and lt.buy != sold.buy
                                     and d - WASH_DAYS <= lt.bought <= d), key=lambda lt: (lt.bought, lt.buy)):
                    if need <= EPS:
                        break
                    r_sh = min(need, other.wash_cap)
                    cap = other.wash_cap
                    piece = _split(acc, other, r_sh) if r_sh < other.qty - EPS else other
                    amount = -gain * r_sh / take
                    piece.basis += amount
                    piece.adjustment += amount
                    piece.acquired = piece.acquired - (d - sold.acquired)
                    piece.wash_cap = 0.0
                    if piece is not other:
                        other.wash_cap = min(cap - r_sh, other.qty)
                    disallowed += amount
                    need -= r_sh
                for j in sorted(buy_cap):
                    if need <= EPS:
                        break
                    bd = dates[j]
                    if j <= i or bd > d + WASH_DAYS or buy_cap[j] <= EPS:
                        continue
                    r_sh = min(need, buy_cap[j])
                    buy_cap[j] -= r_sh
                    amount = -gain * r_sh / take
                    pending.setdefault(j, []).append(_Pending(r_sh, amount, d - sold.acquired))
                    disallowed += amount
                    need -= r_sh
            acc.rows.append({"symbol": acc.symbol, "lot_id": sold.lot_id, "acquired": date.fromordinal(sold.acquired),
                             "disposed": date.fromordinal(d),
                             "quantity": take, "cost_basis": cost, "proceeds": proceeds, "gain": gain + disallowed,
                             "term": "long" if long_term(sold.acquired, d) else "short",
                             "wash_sale_disallowed": disallowed, "basis_adjustment": sold.adjustment})
            sold.qty = 0.0
    return acc


def tax_lots(tx: pd.DataFrame, method: str = "fifo", rates: tuple[float, float] = (0.37, 0.20),
             as_of: pd.Timestamp | None = None, marks: dict[str, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tax_lots, tax_summary) for the transactions `tx`: realised lots, then open lots marked at `marks`
    (last price per symbol) as of `as_of` with their unrealised gain (disposed empty)."""
    if method not in METHODS:
        raise ValueError(f"unknown lot method '{method}' ({'|'.join(METHODS)})")
    rows, open_rows, years = [], [], []
    as_of = as_of if as_of is not None else (tx["date"].max() if len(tx) else pd.Timestamp("1970-01-01"))
    as_of_day = pd.Timestamp(as_of).date().toordinal()
    for (account, _), ev in tx.groupby(["account", "symbol"], sort=True):
        acc = _account_lots(ev, method, rates)
        rows += acc.rows
        px = (marks or {}).get(acc.symbol, float(ev["price"].iloc[-1]))
        for lt in acc.lots:
            if lt.qty > EPS:
                open_rows.append({"symbol": acc.symbol, "lot_id": lt.lot_id, "acquired": date.fromordinal(lt.acquired), "disposed": None,
                                  "quantity": lt.qty, "cost_basis": lt.basis, "proceeds": None, "gain": lt.qty * px - lt.basis,
                                  "term": "long" if long_term(lt.acquired, as_of_day) else "short", "wash_sale_disallowed": 0.0,
                                  "basis_adjustment": lt.adjustment})
        years.append((account, pd.DataFrame(acc.rows, columns=LOT_COLUMNS)))
    lots = pd.DataFrame(rows + open_rows, columns=LOT_COLUMNS)
    return lots, _summary(years, rates)


def _summary(per_account: list[tuple[str, pd.DataFrame]], rates: tuple[float, float]) -> pd.DataFrame:
    """Yearly short/long gains, disallowed losses and tax (netted per account, net losses carried forward)."""
    parts = []
    by_acc: dict[str, list[pd.DataFrame]] = {}
    for account, df in per_account:
        by_acc.setdefault(account, []).append(df)
    for account, dfs in by_acc.items():
        df = pd.concat(dfs, ignore_index=True)
        if df.empty:
            continue
        df["year"] = pd.to_datetime(df["disposed"]).dt.year
        g = df.pivot_table(index="year", columns="term", values="gain", aggfunc="sum", fill_value=0.0)
        w = df.groupby("year")["wash_sale_disallowed"].sum()
        carry = 0.0
        for y in sorted(g.index):
            s, lg = float(g.loc[y].get("short", 0.0)), float(g.loc[y].get("long", 0.0))
            a, b = s + carry, lg
            if a < 0 < b:
                a, b = 0.0, b + a
            elif b < 0 < a:
                a, b = a + b, 0.0
            carry = min(a, 0.0) + min(b, 0.0)
            tax = max(a, 0.0) * rates[0] + max(b, 0.0) * rates[1]
            parts.append({"year": int(y), "short_term_gain": s, "long_term_gain": lg, "wash_sale_disallowed": float(w[y]), "tax": tax})
    if not parts:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    return pd.DataFrame(parts).groupby("year", as_index=False)[SUMMARY_COLUMNS[1:]].sum()[SUMMARY_COLUMNS]
