"""`pm-xero demo`: a simulated practice synced end to end to the sandbox."""
