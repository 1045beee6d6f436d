"""Running backtests over batches of stocks: batch specs, executors (serial, processes, Dask), the runner."""
