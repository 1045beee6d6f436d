"""The command-line commands, one module per group; `adaptrade.cli` assembles them."""
