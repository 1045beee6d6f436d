"""PSR, DSR and bootstrap intervals now live in the one statistics module (`adaptrade.stats`);
re-exported here for the research code that imports them from this path."""

from adaptrade.stats.overfit import (  # noqa: F401
    EULER_GAMMA,
    Deflated,
    Moments,
    bootstrap_ci,
    dsr,
    expected_max_sharpe,
    mean_ci_time_series,
    mean_rows,
    moments,
    norm_cdf,
    norm_ppf,
    positive_share_rows,
    psr,
    stationary_bootstrap_means,
    t_stat,
)
