"""Response models of GET /runs/{run_id}/analytics/{kind}: one per analytic, each table a page of typed
rows whose fields are the columns of `adaptrade analytics KIND --format json` (docs/analytics.md)."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

R = TypeVar("R")


class TablePage(BaseModel, Generic[R]):
    total: int = Field(..., description="Rows of the table (after the symbol filter).")
    rows: list[R] = Field(..., description="Rows offset .. offset + limit, in the analytic's order.")


class DailyReturn(BaseModel):
    symbol: str = Field(..., description="Stock, or ACCOUNT for the account curve (listed first).")
    date: str = Field(..., description="Trading day (YYYY-MM-DD).")
    ret: float | None = Field(None, description="Return of the day (fraction).")
    vol_63: float | None = Field(None, description="Annualised volatility over the last 63 days (null until 63 days exist).")
    sharpe_63: float | None = Field(None, description="Annualised Sharpe over the last 63 days (risk-free 0).")
    vol_252: float | None = Field(None, description="Annualised volatility over the last 252 days.")
    sharpe_252: float | None = Field(None, description="Annualised Sharpe over the last 252 days.")


class MonthlyReturn(BaseModel):
    symbol: str = Field(..., description="Stock, or ACCOUNT.")
    month: str = Field(..., description="Calendar month (YYYY-MM).")
    ret: float | None = Field(None, description="Compounded return of the month (fraction).")


class YearlyReturn(BaseModel):
    symbol: str = Field(..., description="Stock, or ACCOUNT.")
    year: str = Field(..., description="Calendar year (YYYY).")
    ret: float | None = Field(None, description="Compounded return of the year (fraction).")


class Contribution(BaseModel):
    symbol: str = Field(..., description="Stock; ACCOUNT (the account return, last); or the unattributed cash/costs row.")
    sector: str = Field(..., description="GICS sector ('unknown' when not listed, '' for the account rows).")
    contribution: float | None = Field(None, description="Contribution to the account return (fraction); the stock rows sum to ACCOUNT.")
    total_return: float | None = Field(None, description="Per-stock runs: the stock's strategy return.")
    buy_hold_return: float | None = Field(None, description="Per-stock runs: the stock's buy-and-hold return.")
    exposure_return: float | None = Field(None, description="Per-stock runs: the price move while in the market (market exposure).")
    timing_return: float | None = Field(None, description="Per-stock runs: total_return - exposure_return (entry/exit timing, costs).")


class SectorContribution(BaseModel):
    sector: str = Field(..., description="GICS sector.")
    contribution: float | None = Field(None, description="Sum of its stocks' contributions (fraction).")


class TaxLot(BaseModel):
    symbol: str = Field(..., description="Stock.")
    lot_id: str = Field(..., description="Lot id (purchase, and part after a split sale).")
    acquired: str | None = Field(None, description="Start of the holding period (earlier after a wash sale).")
    disposed: str | None = Field(None, description="Sale date; null for a lot still open at the run's end.")
    quantity: float | None = Field(None, description="Shares in the lot.")
    cost_basis: float | None = Field(None, description="Total basis, costs and wash-sale adjustments included.")
    proceeds: float | None = Field(None, description="Sale proceeds (open lots: marked at the last price).")
    gain: float | None = Field(None, description="proceeds - cost_basis (open lots: unrealised).")
    term: str | None = Field(None, description="short | long (held more than one year).")
    wash_sale_disallowed: float | None = Field(None, description="Loss disallowed by the wash-sale rule.")
    basis_adjustment: float | None = Field(None, description="Disallowed loss added to this lot's basis.")


class TaxYear(BaseModel):
    year: int = Field(..., description="Tax year.")
    short_term_gain: float | None = Field(None, description="Net short-term gain of the year.")
    long_term_gain: float | None = Field(None, description="Net long-term gain of the year.")
    wash_sale_disallowed: float | None = Field(None, description="Losses disallowed in the year.")
    tax: float | None = Field(None, description="Tax at settings.tax_short_rate / tax_long_rate (net losses carried forward).")


class TaxMethod(BaseModel):
    method: str = Field(..., description="Lot method: fifo | lifo | hifo | mintax.")
    realised_gain: float | None = Field(None, description="Realised gain under the method.")
    tax: float | None = Field(None, description="Total tax under the method.")
    pre_tax_return: float | None = Field(None, description="Account return before tax (fraction).")
    after_tax_return: float | None = Field(None, description="Account return after the tax (fraction of starting capital).")


class Episode(BaseModel):
    peak: str = Field(..., description="Date of the peak the episode starts from.")
    trough: str = Field(..., description="Date of the lowest point.")
    recovery: str | None = Field(None, description="First date back at the peak; null when not recovered by the run's end.")
    depth: float | None = Field(None, description="Trough / peak - 1 (negative fraction).")
    length: int | None = Field(None, description="Trading days from peak to recovery (or to the run's end).")
    time_to_recover: int | None = Field(None, description="Trading days from trough to recovery (null: not recovered).")
    decline: int | None = Field(None, description="Trading days from peak to trough.")


class Underwater(BaseModel):
    date: str = Field(..., description="Trading day.")
    underwater: float | None = Field(None, description="Equity / running peak - 1 (0 at a new high).")


class _Base(BaseModel):
    run_id: str = Field(..., description="Run id.")
    basis: Literal["portfolio_account", "equal_weight_book"] = Field(
        ..., description="The account the analytic uses: a portfolio run's account, or for per-stock runs the "
                         "equal-weight book of the stocks' all-in strategies.")
    symbol: str | None = Field(None, description="Symbol filter applied to the tables that have a symbol column.")
    offset: int = Field(..., description="Index of the first row of each table.")
    limit: int = Field(..., description="Most rows of each table.")


class ReturnsAnalytics(_Base):
    kind: Literal["returns"] = Field("returns", description="Which analytic.")
    returns_daily: TablePage[DailyReturn] = Field(..., description="Daily returns with rolling volatility and Sharpe.")
    returns_monthly: TablePage[MonthlyReturn] = Field(..., description="Monthly compounded returns.")
    returns_yearly: TablePage[YearlyReturn] = Field(..., description="Yearly compounded returns.")


class AttributionAnalytics(_Base):
    kind: Literal["attribution"] = Field("attribution", description="Which analytic.")
    attribution: TablePage[Contribution] = Field(..., description="Per-stock contributions, the account row last.")
    attribution_sectors: TablePage[SectorContribution] = Field(..., description="Per-sector contributions, largest first.")


class TaxAnalytics(_Base):
    kind: Literal["tax"] = Field("tax", description="Which analytic.")
    method: str = Field(..., description="Lot method of tax_lots and tax_summary.")
    tax_lots: TablePage[TaxLot] = Field(..., description="Every lot under `method` (US rules of docs/analytics.md; not tax advice).")
    tax_summary: TablePage[TaxYear] = Field(..., description="Per tax year under `method`.")
    tax_methods: TablePage[TaxMethod] = Field(..., description="After-tax return of the run under each lot method.")
    tax_harvest: TablePage[TaxLot] = Field(..., description="Open lots with an unrealised loss at the run's last date, largest loss first.")


class DrawdownAnalytics(_Base):
    kind: Literal["drawdowns"] = Field("drawdowns", description="Which analytic.")
    drawdowns: TablePage[Episode] = Field(..., description="Every drawdown episode of the account, in time order.")
    drawdowns_worst: TablePage[Episode] = Field(..., description="The `worst` deepest episodes.")
    underwater: TablePage[Underwater] = Field(..., description="The underwater curve.")


Analytics = Annotated[ReturnsAnalytics | AttributionAnalytics | TaxAnalytics | DrawdownAnalytics, Field(discriminator="kind")]
