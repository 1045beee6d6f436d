"""Universe layer: which symbols to trade (constituent lists now; filters and scores later)."""
