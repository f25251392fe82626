"""The ledger's state machine: the states a row can be in and the moves between them.

One table of legal moves instead of ad-hoc ``UPDATE``\\ s: every write in the ledger names the state
it expects the row to be in (``WHERE state IN (...)``), so a move that is not in this table cannot
happen, even between two processes racing on one file (procrastinate's rule: claim by update,
never by delete).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pm_xero_plugin.xero.kinds import SEND_ORDER

__all__ = [
    "ACTIVE_STATES",
    "ADMIN_GATES",
    "DEPENDENCY_GATES",
    "EXTERNAL_GATES",
    "KINDS",
    "RULE_GATES",
    "STATES",
    "TRANSITIONS",
    "Gate",
    "IllegalTransition",
    "State",
    "allowed_from",
]

KINDS: Final = SEND_ORDER
"""Ledger record kinds, in the order a tenant's work must reach Xero (defined once, in
:mod:`pm_xero_plugin.xero.kinds`)."""


class State(StrEnum):
    """Where a row is on its way to Xero (stored as its value; compares equal to it)."""

    WAITING = "waiting"
    """A gate is closed; ``gate`` says which."""
    READY = "ready"
    """May be claimed by a worker."""
    SENDING = "sending"
    """Claimed by a worker under a lease."""
    SYNCED = "synced"
    """Xero has it (``xero_id``)."""
    RETRYING = "retrying"
    """Transient failure; ``next_at`` says when to try again."""
    FAILED = "failed"
    """Needs an admin: Xero refused it."""
    EXCLUDED = "excluded"
    """An admin said do not sync (or it was voided before it was ever sent)."""
    REJECTED = "rejected"
    """Host input that could not be read; kept with its raw payload."""


class Gate(StrEnum):
    """Why a ``waiting`` row waits (stored as its value; compares equal to it)."""

    DISABLED = "disabled"
    ORGANISATION = "organisation"
    CONNECTION = "connection"
    ACCOUNT_CODES = "account_codes"
    CONTACT_SYNC_NOT_STARTED = "contact_sync_not_started"
    START_DATE_UNSET = "start_date_unset"
    BEFORE_START_DATE = "before_start_date"
    START_DATE_FUTURE = "start_date_future"
    CONTACT_SYNC = "contact_sync"
    CONTACT = "contact"
    INVOICE_BEFORE_START = "invoice_before_start"
    CREDIT_NOTE = "credit_note"
    INVOICE = "invoice"
    CREDIT_BEFORE_START = "credit_before_start"
    DEPOSIT = "deposit"
    OVERPAYMENT = "overpayment"
    PAYMENTS = "payments"
    LOCK_DATE = "lock_date"
    CONTACT_NAME_TAKEN = "contact_name_taken"
    XERO_CHANGED = "xero_changed"


STATES: Final = tuple(State)
"""Every state, in the order the dashboard lists them."""

ACTIVE_STATES: Final = (State.WAITING, State.READY, State.SENDING, State.RETRYING)
"""States of a row that still has to reach Xero (used for "contact sync finished")."""

TRANSITIONS: Final[dict[State, frozenset[State]]] = {
    # to-state: the states a row may be in to move there
    State.WAITING: frozenset(State),
    State.READY: frozenset(State),
    State.SENDING: frozenset({State.READY, State.RETRYING, State.SENDING}),
    State.SYNCED: frozenset({State.SENDING, State.SYNCED, State.FAILED, State.WAITING}),
    State.RETRYING: frozenset({State.SENDING}),
    State.FAILED: frozenset(
        {State.SENDING, State.WAITING, State.READY, State.RETRYING, State.SYNCED, State.FAILED}
    ),
    State.EXCLUDED: frozenset(
        {
            State.WAITING,
            State.READY,
            State.RETRYING,
            State.FAILED,
            State.REJECTED,
            State.EXCLUDED,
        }
    ),
    State.REJECTED: frozenset({State.REJECTED}),
}
"""Legal moves, by target state.

Notes on the less obvious ones:

* ``synced -> ready|waiting``: an edit or void after the document reached Xero becomes an update.
* ``failed -> synced``: *resolve* – an admin fixed it by hand in Xero.
* ``waiting -> synced``: an admin *links* a held contact to the one Xero already has (or
  resolves a row held by Xero, e.g. by a lock date, that was entered by hand there).
* ``* -> failed`` from not-sending states: an edit Xero will not allow (a paid invoice).
* ``sending -> sending``: another worker reclaims a row whose lease expired.
* ``rejected -> ready|waiting``: a readable version of the record arrived.
* A new row starts in ``waiting``, ``ready`` or ``rejected`` (checked at insert).
"""

INITIAL_STATES: Final = frozenset({State.WAITING, State.READY, State.REJECTED})

RULE_GATES: Final = (
    Gate.DISABLED,
    Gate.ORGANISATION,
    Gate.CONNECTION,
    Gate.ACCOUNT_CODES,
    Gate.CONTACT_SYNC_NOT_STARTED,
    Gate.START_DATE_UNSET,
    Gate.BEFORE_START_DATE,
    Gate.START_DATE_FUTURE,
    Gate.CONTACT_SYNC,
    Gate.CONTACT,
    Gate.INVOICE_BEFORE_START,
    Gate.CREDIT_NOTE,
    Gate.INVOICE,
    Gate.CREDIT_BEFORE_START,
    Gate.DEPOSIT,
    Gate.OVERPAYMENT,
)
"""Gates the rules compute, in priority order: the first closed one is the row's gate."""

DEPENDENCY_GATES: Final = (
    Gate.CONTACT,
    Gate.CREDIT_NOTE,
    Gate.INVOICE,
    Gate.DEPOSIT,
    Gate.OVERPAYMENT,
)
"""Gates that open when another row reaches Xero (promoted in the same transaction)."""

EXTERNAL_GATES: Final = (Gate.LOCK_DATE, Gate.CONTACT_NAME_TAKEN, Gate.PAYMENTS, Gate.XERO_CHANGED)
"""Gates a worker sets from Xero's answer; they open on an admin retry, not by the rules."""

ADMIN_GATES: Final = (Gate.CONTACT_NAME_TAKEN, Gate.XERO_CHANGED)
"""External gates only an admin opens (a decision, not a date): a contact held behind one does
not keep its organisation's contact sync running, and it is listed with the ways out."""


class IllegalTransition(Exception):
    """A write asked for a move the state machine does not allow (or the row does not exist)."""

    def __init__(self, row_id: int | None, current: str | None, target: str) -> None:
        self.row_id = row_id
        self.current = current
        self.target = target
        where = "missing" if current is None else f"in state {current!r}"
        super().__init__(f"row {row_id} is {where}: cannot move it to {target!r}")


def allowed_from(target: str) -> frozenset[State]:
    """The states a row may be in to move to ``target``."""
    try:
        return TRANSITIONS[State(target)]
    except ValueError:
        raise ValueError(f"unknown state {target!r}") from None
