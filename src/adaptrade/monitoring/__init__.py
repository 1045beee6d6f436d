"""Monitoring: Prometheus metrics (`metrics`, `record`) and direct PagerDuty pages (`pagerduty`).

Above reports/analytics and below api in the layer order; the only place prometheus-client is used.
"""
