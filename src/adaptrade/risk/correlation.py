"""Portfolio correlation tracking for reports and alerting: the rolling correlation matrix of the
held positions' daily log returns at a bar (the compiled loop uses rules.avg_correlation).

Reached only by tests today; the service issue (#14) exports it as a metric and the paper loop (#15) reports it."""

from __future__ import annotations

import numpy as np
import pandas as pd


def held_correlation(ret: np.ndarray, symbols: tuple[str, ...], held: np.ndarray, t: int, window: int = 60) -> pd.DataFrame:
    """Pairwise Pearson correlation of the held stocks' last `window` returns ending at bar t (pairwise-complete)."""
    rows = np.flatnonzero(np.asarray(held, dtype=bool))
    lo = max(0, t - window + 1)
    frame = pd.DataFrame(ret[rows, lo : t + 1].T, columns=[symbols[i] for i in rows])
    return frame.corr(min_periods=5)
