"""Research: walk-forward, overfitting statistics (PSR, DSR), sweeps and the reproduced Phase 7 experiment."""
