"""Never overwrite a change a bookkeeper made in Xero without someone deciding it.

An edit in the host after a record reached Xero goes as an *update*: the whole contact, the
whole invoice. Were a bookkeeper to have changed that record in Xero meanwhile (an email, a
total, the contact of an invoice), the update would put the host's version back over theirs –
silently, and the next reconciliation would find the two sides agreeing. The ``xero_changes``
setting's default, ``report``, promises the opposite. So before an update leaves, the sender
asks here:

* a record the last reconciliation lists with a Xero-side change of its own (its
  :data:`GUARDED` differences) that no one decided to overwrite (``resent``) is **held** at the
  ``xero_changed`` gate, with what changed – the Books page (or ``pm-xero reconcile --resend``)
  is where an admin sends the host's version over it, and accepting Xero's keeps it held;
* a record a webhook event names that no pass has looked at yet **waits a moment**
  (:data:`EVENT_WAIT`): the events pass re-reads it within seconds, and the answer is the above.

* and the rest are **read first** (:func:`changed_since_known`, one call for up to 50): a
  record whose fields an update sends (a contact's name and email; a document's contact, date,
  total and status) differ in Xero from the version the add-on last knew – its own write's
  answer, or its last read – was changed there meanwhile, by someone the add-on has not heard
  of yet (a webhook on its way, or none set up): it is held the same way, and Xero's version is
  kept for the next comparison.

With ``xero_changes`` set to ``resend`` the host's version wins by the admin's own setting:
nothing is held, nothing is read first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pm_xero_plugin.core.books import Difference, load_report
from pm_xero_plugin.ledger import Ledger
from pm_xero_plugin.ledger.types import XeroCopy
from pm_xero_plugin.mapping.xero_copies import summarise
from pm_xero_plugin.sync.settle import RowToSend

if TYPE_CHECKING:
    from pm_xero_plugin.xero.client import XeroClient

__all__ = [
    "EDITED_FIELDS",
    "EVENT_WAIT",
    "GATE",
    "GUARDED",
    "WAIT_ATTEMPTS",
    "Guarded",
    "changed_since_known",
    "guard_updates",
]

GATE: Final = "xero_changed"
"""The gate a held update waits at (``Gate.XERO_CHANGED``)."""

GUARDED: Final = frozenset(
    {"amount_changed", "contact_changed", "details_changed", "deleted_in_xero", "voided_in_xero"}
)
"""Differences an update would overwrite (or run into): what the bookkeeper changed on the
record itself. A payment or credit applied in Xero is not the record's own field: an update of
the invoice leaves it where it is."""

EVENT_WAIT: Final = timedelta(seconds=5)
"""How long an update waits for a pending webhook event on its record to be looked at."""

WAIT_ATTEMPTS: Final = 3
"""Failed attempts to look at an event after which an edit no longer waits for it."""

EDITED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "contact": ("name", "email", "status"),
    "invoice": ("contact_id", "date", "total", "status"),
    "credit_note": ("contact_id", "date", "total", "status"),
}
"""What an update of each kind sends (as :mod:`pm_xero_plugin.mapping.xero_copies` summarises
it): a change of one of these in Xero is what the update would undo. Payments and credits
applied to an invoice are not among them – an update leaves them where they are."""

_UNDONE: Final = frozenset({"VOIDED", "DELETED", "ARCHIVED"})
"""A status only a person in Xero gives (the add-on's own payments make an invoice PAID: that
is no change an update would undo)."""

_ENDPOINTS: Final = {"contact": "Contacts", "invoice": "Invoices", "credit_note": "CreditNotes"}

_KINDS: Final = frozenset(EDITED_FIELDS)
_PENDING_LOOKED_AT: Final = 5000


@dataclass
class Guarded:
    """What the guard found for a batch."""

    held: dict[int, str] = field(default_factory=dict)
    """Row id → why it waits for an admin (the difference in words)."""
    wait: set[int] = field(default_factory=set)
    """Rows a pending webhook event names: try again in :data:`EVENT_WAIT`."""
    updates: list[RowToSend] = field(default_factory=list)
    """The batch's updates the guard looks at (the rest are creates, or other kinds)."""


def guard_updates(
    ledger: Ledger, tenant_id: str, rows: Sequence[RowToSend], settings: Mapping[str, Any]
) -> Guarded:
    """Which of ``rows`` must not go now (see the module docstring). Cheap when nothing is
    guarded: creates and kinds with no Xero-side version are never looked at."""
    found = Guarded()
    if str(settings.get("xero_changes") or "report") == "resend":
        return found
    updates = [
        r for r in rows if r.operation == "update" and r.kind in _KINDS and r.xero_id is not None
    ]
    if not updates:
        return found
    found.updates = updates
    open_ = _open_differences(ledger, tenant_id)
    pending = _pending_resources(ledger, tenant_id)
    for row in updates:
        d = open_.get(row.id)
        if d is not None:
            found.held[row.id] = _why(d)
        elif str(row.xero_id).lower() in pending:
            found.wait.add(row.id)
    return found


def _open_differences(ledger: Ledger, tenant_id: str) -> dict[int, Difference]:
    """The kept report's guarded differences of the organisation no one chose to overwrite."""
    report = load_report(ledger.meta)
    if report is None:
        return {}
    out: dict[int, Difference] = {}
    for books in report.tenants:
        if books.tenant_id != tenant_id:
            continue
        for d in books.differences:
            if d.difference in GUARDED and d.decided != "resent":
                out.setdefault(d.row_id, d)
    return out


def _pending_resources(ledger: Ledger, tenant_id: str) -> set[str]:
    """Xero ids that webhook events not handled yet name, for this organisation – those not yet
    tried :data:`WAIT_ATTEMPTS` times: an event the reader cannot follow (Xero unreachable, the
    reconciliation's budget spent) does not hold the sync's edits for hours."""
    return {
        e.resource_id.lower()
        for e in ledger.pending_xero_events(_PENDING_LOOKED_AT)
        if e.tenant_id == tenant_id and e.attempts < WAIT_ATTEMPTS
    }


def _why(d: Difference) -> str:
    accepted = d.decided == "accepted"
    said = "Xero's version was accepted" if accepted else "changed in Xero"
    return (
        f"{said} ({d.xero}; Pet Manager: {d.host}): the host's edit is not sent over it – "
        "re-send it on the Books page to overwrite Xero's"
    )


def changed_since_known(
    ledger: Ledger,
    client: XeroClient,
    tenant_id: str,
    connection_key: str,
    rows: Sequence[RowToSend],
    now: datetime,
) -> dict[int, str]:
    """Of ``rows`` (updates of one kind), those Xero holds in another version than the add-on
    last knew (the kept copy), with why; Xero's versions read are kept as copies. A row with no
    kept copy (sent before copies were kept) has nothing to compare with and goes.

    :raises XeroError: the read failed (the caller gives the rows back, to try again)."""
    held: dict[int, str] = {}
    # A row in doubt (a request of ours went out and its answer was lost) may find its own
    # write in Xero, newer than the copy kept: the sender looks it up as ever, and it is not
    # read as someone else's change.
    rows = [r for r in rows if not r.uncertain]
    for kind in sorted({r.kind for r in rows if r.kind in EDITED_FIELDS}):
        mine = [r for r in rows if r.kind == kind and r.xero_id]
        known = ledger.xero_copies(tenant_id, kind, [str(r.xero_id).lower() for r in mine])
        ask = [r for r in mine if str(r.xero_id).lower() in known]
        if not ask:
            continue
        read = client.get_by_ids(
            tenant_id, connection_key, _ENDPOINTS[kind], [str(r.xero_id) for r in ask]
        )
        fresh: list[XeroCopy] = []
        for row in ask:
            xid = str(row.xero_id).lower()
            element = read.get(xid)
            if element is None:
                continue  # gone: the update fails with Xero's own word, and the read says so
            summary, updated = summarise(kind, element)
            before = known[xid].summary
            moved = [
                f
                for f in EDITED_FIELDS[kind]
                if summary.get(f) != before.get(f)
                and (f != "status" or str(summary.get(f)).upper() in _UNDONE)
            ]
            if moved:
                fresh.append(XeroCopy(tenant_id, kind, xid, summary, updated, now))
                held[row.id] = (
                    "changed in Xero since the add-on last saw it ("
                    + ", ".join(f"{f} {summary.get(f)}" for f in moved)
                    + "): the host's edit is not sent over it – reconcile, then re-send it on "
                    "the Books page to overwrite Xero's"
                )
        if fresh:
            ledger.store_xero_copies(fresh)
    return held
