"""The sync ledger: one row per host record per Xero organisation, and its state machine.

:class:`SqliteLedger` is the embedded default (a file in the host's data directory). Everything
above it – the engine, the worker, the dashboard – talks to the methods documented there, so a
PostgreSQL ledger (``FOR UPDATE SKIP LOCKED`` claims) can stand in for a many-machine host.
"""

from pm_xero_plugin.ledger.sqlite import Facts, NewRow, Row, SqliteLedger, TenantRecord
from pm_xero_plugin.ledger.states import (
    ACTIVE_STATES,
    KINDS,
    RULE_GATES,
    STATES,
    TRANSITIONS,
    IllegalTransition,
)

Ledger = SqliteLedger
"""The default ledger implementation."""

__all__ = [
    "ACTIVE_STATES",
    "KINDS",
    "RULE_GATES",
    "STATES",
    "TRANSITIONS",
    "Facts",
    "IllegalTransition",
    "Ledger",
    "NewRow",
    "Row",
    "SqliteLedger",
    "TenantRecord",
]
