"""Fixtures: a practice in the reference host with a real SQLite ledger."""

from support.ledger_fixtures import clock, ledger, practice  # noqa: F401
