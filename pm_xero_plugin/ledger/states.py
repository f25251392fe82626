"""The ledger's state machine: the states a row can be in and the moves between them.

One table of legal moves instead of ad-hoc ``UPDATE``\\ s: every write in the ledger names the state
it expects the row to be in (``WHERE state IN (...)``), so a move that is not in this table cannot
happen, even between two processes racing on one file (procrastinate's rule: claim by update,
never by delete).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTIVE_STATES",
    "ADMIN_GATES",
    "DEPENDENCY_GATES",
    "EXTERNAL_GATES",
    "KINDS",
    "RULE_GATES",
    "STATES",
    "TRANSITIONS",
    "IllegalTransition",
    "allowed_from",
]

KINDS: Final = ("contact", "invoice", "credit_note", "allocation", "payment", "overpayment")
"""Ledger record kinds, in the order a tenant's work must reach Xero."""

STATES: Final = (
    "waiting",  # a gate is closed; ``gate`` says which
    "ready",  # may be claimed by a worker
    "sending",  # claimed by a worker under a lease
    "synced",  # Xero has it (``xero_id``)
    "retrying",  # transient failure; ``next_at`` says when to try again
    "failed",  # needs an admin: Xero refused it
    "excluded",  # an admin said do not sync (or it was voided before it was ever sent)
    "rejected",  # host input that could not be read; kept with its raw payload
)

ACTIVE_STATES: Final = ("waiting", "ready", "sending", "retrying")
"""States of a row that still has to reach Xero (used for "contact sync finished")."""

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    # to-state: the states a row may be in to move there
    "waiting": frozenset(
        {"waiting", "ready", "sending", "retrying", "failed", "synced", "excluded", "rejected"}
    ),
    "ready": frozenset(
        {"waiting", "ready", "sending", "retrying", "failed", "synced", "excluded", "rejected"}
    ),
    "sending": frozenset({"ready", "retrying", "sending"}),
    "synced": frozenset({"sending", "synced", "failed", "waiting"}),
    "retrying": frozenset({"sending"}),
    "failed": frozenset({"sending", "waiting", "ready", "retrying", "synced", "failed"}),
    "excluded": frozenset({"waiting", "ready", "retrying", "failed", "rejected", "excluded"}),
    "rejected": frozenset({"rejected"}),
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

INITIAL_STATES: Final = frozenset({"waiting", "ready", "rejected"})

RULE_GATES: Final = (
    "disabled",
    "organisation",
    "connection",
    "account_codes",
    "contact_sync_not_started",
    "start_date_unset",
    "before_start_date",
    "start_date_future",
    "contact_sync",
    "contact",
    "invoice_before_start",
    "credit_note",
    "invoice",
)
"""Gates the rules compute, in priority order: the first closed one is the row's gate."""

DEPENDENCY_GATES: Final = ("contact", "credit_note", "invoice")
"""Gates that open when another row reaches Xero (promoted in the same transaction)."""

EXTERNAL_GATES: Final = ("lock_date", "contact_name_taken")
"""Gates a worker sets from Xero's answer; they open on an admin retry, not by the rules."""

ADMIN_GATES: Final = ("contact_name_taken",)
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


def allowed_from(target: str) -> frozenset[str]:
    """The states a row may be in to move to ``target``."""
    try:
        return TRANSITIONS[target]
    except KeyError:
        raise ValueError(f"unknown state {target!r}") from None
