"""A local, stateful, Xero-compatible server (see README, "The Xero sandbox")."""
