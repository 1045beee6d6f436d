"""Risk layer of the portfolio mode: limits (config + vector) and compiled rules."""

from adaptrade.risk.limits import RULES, RiskLimits

__all__ = ["RULES", "RiskLimits"]
