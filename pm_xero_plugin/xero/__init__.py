"""Everything Xero: the HTTP client and its layers (auth, limits, retries), tokens, errors, kinds,
dates, Xero's replies and messages."""
