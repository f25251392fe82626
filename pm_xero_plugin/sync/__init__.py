"""Moving ready rows to Xero: the worker loop, the sender (prepare, dedupe, settle), the runtime
that wires them."""
