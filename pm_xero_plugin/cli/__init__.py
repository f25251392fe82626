"""The `pm-xero` command: verbs, one error boundary, how commands are printed."""
