"""A loopback STAND-IN for Alpaca's trading and market-data API (the real service is out of reach here)."""
