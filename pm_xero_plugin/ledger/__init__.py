"""The sync ledger: one row per host record per Xero organisation, and its state machine.

:class:`Ledger` (:mod:`pm_xero_plugin.ledger.interface`) is what everything above it – the
engine, the worker, the dashboard – talks to; :class:`SqliteLedger` is the embedded default (a
file in the host's data directory), and a PostgreSQL ledger (``FOR UPDATE SKIP LOCKED`` claims)
can stand in for a many-machine host by passing the same contract tests.
"""

from pm_xero_plugin.ledger.interface import Dependants, Ledger
from pm_xero_plugin.ledger.sqlite import SqliteLedger
from pm_xero_plugin.ledger.states import (
    ACTIVE_STATES,
    KINDS,
    RULE_GATES,
    STATES,
    TRANSITIONS,
    Gate,
    IllegalTransition,
    State,
)
from pm_xero_plugin.ledger.types import (
    LIVE,
    Facts,
    NewRow,
    Parent,
    Row,
    RowKey,
    RowPage,
    RowQuery,
    TenantRecord,
)

__all__ = [
    "ACTIVE_STATES",
    "KINDS",
    "LIVE",
    "RULE_GATES",
    "STATES",
    "TRANSITIONS",
    "Dependants",
    "Facts",
    "Gate",
    "IllegalTransition",
    "Ledger",
    "NewRow",
    "Parent",
    "Row",
    "RowKey",
    "RowPage",
    "RowQuery",
    "SqliteLedger",
    "State",
    "TenantRecord",
]
