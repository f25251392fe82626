"""The sync rules as pure functions: which gate, if any, holds a ledger row back.

Everything here is computed from plain facts (:class:`RuleContext`, :class:`RowFacts`), never from
a database or a clock, so every rule is testable on its own and the ledger, the engine and the
tests share one definition. The gates are checked in a fixed priority order
(:data:`pm_xero_plugin.ledger.states.RULE_GATES`); a row's gate is the first one that is closed,
which is also what the dashboard shows as the reason it waits.

Dates: ``doc_date`` is the host's *local business date* of the record (invoice date for invoices
and credit notes and their allocations, paid date for payments and overpayments) and ``today`` is
the host clock converted to the location's own time zone, so a record dated exactly on the start
date is in, the day before is out, whatever the server's zone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "DOCUMENT_KINDS",
    "DepFacts",
    "Gate",
    "RowFacts",
    "RuleContext",
    "TenantFacts",
    "dependency_gate",
    "gate_reason",
    "gates_for",
    "held_reason",
    "local_today",
    "parent_held_detail",
]

DOCUMENT_KINDS = (
    "invoice",
    "credit_note",
    "allocation",
    "payment",
    "overpayment",
    "deposit",
    "deposit_allocation",
    "credit_note_refund",
    "overpayment_refund",
    "deposit_refund",
    "payout_fee",
    "payout",
)
"""Every kind except contacts: held by the start date and by contact sync."""

_NEEDS_CONTACT = ("invoice", "credit_note", "overpayment", "deposit")
_NEEDS_INVOICE = ("payment", "allocation", "deposit_allocation")

SOURCE_KIND: dict[str, str] = {
    "allocation": "credit_note",
    "credit_note_refund": "credit_note",
    "overpayment_refund": "overpayment",
    "deposit_allocation": "deposit",
    "deposit_refund": "deposit",
}
"""The kind of the credit a row draws on, named by its ``dep_credit_note`` (the column holds
"the credit it comes out of": a credit note, an overpayment or a deposit)."""

_SOURCE_GATE = {"credit_note": "credit_note", "overpayment": "overpayment", "deposit": "deposit"}
"""The gate a row waits behind for a credit of each kind that is not in Xero yet."""


@dataclass(frozen=True)
class Gate:
    """A closed gate: its name (one of ``RULE_GATES``) and, when useful, a specific detail."""

    name: str
    detail: str | None = None


_PLAIN: dict[str, Gate] = {
    name: Gate(name)
    for name in (
        "disabled",
        "organisation",
        "contact_sync_not_started",
        "start_date_unset",
        "contact_sync",
        "contact",
        "credit_note",
        "invoice",
        "deposit",
        "overpayment",
    )
}
"""The gates without a detail, made once (a gate is computed for every row a backfill writes)."""


class RowFacts(Protocol):
    """What the rules read of a row (:class:`pm_xero_plugin.ledger.Row` has these)."""

    @property
    def kind(self) -> str:
        """The record kind (``invoice``, ``payment`` …)."""
        ...

    @property
    def location_id(self) -> str:
        """The host location the record belongs to."""
        ...

    @property
    def tenant_id(self) -> str:
        """The Xero organisation (``""``: none linked yet)."""
        ...

    @property
    def doc_date(self) -> str | None:
        """The local business date the start date is compared with."""
        ...

    @property
    def dep_contact(self) -> str | None:
        """The contact (host id) it needs in Xero first."""
        ...

    @property
    def dep_invoice(self) -> str | None:
        """The invoice (host id) it pays or is allocated to."""
        ...

    @property
    def dep_credit_note(self) -> str | None:
        """The credit note (host id) an allocation comes from."""
        ...

    @property
    def include_before_start(self) -> bool:
        """An admin chose to send it although dated before the start date."""
        ...


@dataclass(frozen=True)
class TenantFacts:
    """What the rules need to know about one organisation."""

    connected: bool = False
    connection_reason: str | None = None
    codes_state: str = "missing"  # ok | missing | unverified | invalid
    codes_detail: str | None = None
    contact_sync: str = "not_started"  # not_started | running | finished


_UNKNOWN_TENANT = TenantFacts()
"""An organisation the ledger has no record of (made once: looked up for every row)."""


@dataclass(frozen=True)
class DepFacts:
    """Another row this one depends on (its contact, credit note or invoice) in the same tenant."""

    satisfied: bool
    """Xero has it as its dependants need it (see :func:`dependency_satisfied`)."""
    doc_date: str | None = None
    include_before_start: bool = False
    held: str | None = None
    """Why it cannot reach Xero until an admin acts (see :func:`held_reason`), or ``None``."""


MONEY_DOCUMENT_KINDS = frozenset({"invoice", "credit_note"})
"""Documents money is applied to: their *current version* must be in Xero before a payment or
allocation against them is sent."""


_SETTLED = frozenset({"failed", "excluded"})
"""States in which nothing more of a row is on its way to Xero (until an admin acts)."""


def dependency_satisfied(kind: str, state: str, xero_id: str | None) -> bool:
    """May the rows that depend on this one go?

    A contact that Xero has (even while an edit of it is on its way) is enough for its documents.
    An invoice or credit note is enough only when no newer version of it is on its way to Xero:
    ``synced``, or Xero has it and its edit failed or was excluded (then what Xero holds is what
    the payment meets, and Xero's own answer says if it refuses). A payment sent while an edit
    raising the invoice's total is still queued meets the old total and is refused ("Payment
    amount exceeds the amount outstanding"), and Xero will not take the edit once the invoice is
    paid. ``synced`` without an id is "resolved by hand".
    """
    if kind in MONEY_DOCUMENT_KINDS:
        return state == "synced" or (xero_id is not None and state in _SETTLED)
    return xero_id is not None or state == "synced"


def held_reason(state: str, gate: str | None, kind: str = "contact") -> str | None:
    """Why a dependency will not reach Xero by itself: what its dependants' wait says.

    A document behind a customer that failed, was excluded or is held for an admin's decision
    waits behind the ``contact`` gate – not failing one by one – and says which of these it is;
    a payment or allocation behind an invoice or credit note that was rejected, failed or was
    excluded likewise (:func:`parent_held_detail` words it with the parent's number and
    message where they are known).
    """
    if kind != "contact":
        return parent_held_detail(kind, None, state, None)
    if state == "waiting" and gate == "contact_name_taken":
        return (
            "its customer's name is taken in Xero by a contact that is not provably ours: link "
            "that contact or create ours under a distinct name"
        )
    if state == "failed":
        return "its customer could not be sent to Xero: see that failure"
    if state == "excluded":
        return "its customer is excluded from sync"
    return None


_HELD_PARENT: dict[str, str] = {
    "rejected": "which was rejected{why}; fix it in the host or exclude it",
    "failed": "which failed{why}; fix it and retry it, or exclude it",
    "excluded": "which is excluded from sync; include it again, or exclude this one too",
}
"""How a payment's or allocation's wait names a parent that will never be sent by itself."""


def parent_held_detail(
    kind: str, number: object | None, state: str, message: str | None
) -> str | None:
    """``waiting on invoice 121, which was rejected: …; fix it in the host or exclude it`` –
    what a dependant says when its invoice or credit note was rejected at intake, failed, or
    was excluded (``None`` for a parent still on its way)."""
    words = _HELD_PARENT.get(state)
    if words is None:
        return None
    noun = kind.replace("_", " ")
    name = f"{noun} {number}" if number not in (None, "") else f"its {noun}"
    why = f": {message}" if message else ""
    return f"waiting on {name}, " + words.format(why=why)


DepLookup = Callable[[str, str, str], "DepFacts | None"]
"""``(kind, host_id, tenant_id) -> DepFacts | None`` (``None``: no such row in that tenant)."""


@dataclass(frozen=True)
class RuleContext:
    """The facts the gates are computed from, gathered by the engine."""

    enabled: bool
    start_date: date | None
    location_enabled: Mapping[str, bool]
    """Per location: whether its connection is switched on in the settings."""
    today: Mapping[str, date]
    """Per location: the host clock's date in that location's time zone."""
    tenants: Mapping[str, TenantFacts]
    dep: DepLookup
    default_today: date | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def local_today(now: datetime, timezone_name: str) -> date:
    """The business date at ``now`` in a location's zone (falls back to UTC for a bad zone)."""
    try:
        zone = ZoneInfo(timezone_name)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def gates_for(row: RowFacts, ctx: RuleContext) -> Gate | None:
    """The first closed gate for ``row``, or ``None`` when it may be sent now."""
    if not ctx.enabled:
        return _PLAIN["disabled"]
    if not row.tenant_id:
        return _PLAIN["organisation"]
    tenant = ctx.tenants.get(row.tenant_id, _UNKNOWN_TENANT)
    if not ctx.location_enabled.get(row.location_id, False):
        return Gate("connection", f"the connection of location {row.location_id} is not enabled")
    if not tenant.connected:
        return Gate("connection", tenant.connection_reason)
    if tenant.codes_state != "ok":
        return Gate("account_codes", tenant.codes_detail)
    if row.kind == "contact":
        if tenant.contact_sync == "not_started":
            return _PLAIN["contact_sync_not_started"]
        return None
    start = ctx.start_date
    if start is None:
        return _PLAIN["start_date_unset"]
    before = row.doc_date is not None and row.doc_date < start.isoformat()
    if before and not row.include_before_start:
        return Gate("before_start_date", f"dated {row.doc_date}, before {start.isoformat()}")
    today = ctx.today.get(row.location_id, ctx.default_today)
    if today is None or today < start:
        return Gate("start_date_future", f"data sync starts on {start.isoformat()}")
    if tenant.contact_sync != "finished":
        return _PLAIN["contact_sync"]
    return dependency_gate(row, ctx.dep, start)


def dependency_gate(row: RowFacts, dep: DepLookup, start: date | None) -> Gate | None:
    """The ordering rules alone: contact before its documents, invoice before its payments.

    Used by :func:`gates_for` and by the ledger when a dependency reaches Xero (rows waiting on a
    dependency gate already passed every earlier gate).
    """
    tenant_id = row.tenant_id
    if row.kind in _NEEDS_CONTACT and row.dep_contact is not None:
        contact = dep("contact", row.dep_contact, tenant_id)
        if contact is None or not contact.satisfied:
            return Gate("contact", contact.held) if contact and contact.held else _PLAIN["contact"]
    source_gate = _source_gate(row, dep, start)
    if source_gate is not None:
        return source_gate
    if row.kind in _NEEDS_INVOICE and row.dep_invoice is not None:
        invoice = dep("invoice", row.dep_invoice, tenant_id)
        if invoice is not None and invoice.satisfied:
            return None
        if (
            invoice is not None
            and start is not None
            and invoice.doc_date is not None
            and invoice.doc_date < start.isoformat()
            and not invoice.include_before_start
        ):
            return Gate(
                "invoice_before_start",
                f"its invoice is dated {invoice.doc_date}, before the start date "
                f"{start.isoformat()}",
            )
        if invoice is not None and invoice.held:
            return Gate("invoice", invoice.held)  # it will never be sent by itself: say so
        return _PLAIN["invoice"]
    return None


def _source_gate(row: RowFacts, dep: DepLookup, start: date | None) -> Gate | None:
    """The credit a row draws on (a credit note, an overpayment, a deposit) must be in Xero
    first; one dated before the start date is never sent by itself, so the row says so and the
    two ways out (as a payment whose invoice predates the start)."""
    source_kind = SOURCE_KIND.get(row.kind)
    if source_kind is None or row.dep_credit_note is None:
        return None
    source = dep(source_kind, row.dep_credit_note, row.tenant_id)
    if source is not None and source.satisfied:
        return None
    if (
        source is not None
        and start is not None
        and source.doc_date is not None
        and source.doc_date < start.isoformat()
        and not source.include_before_start
    ):
        noun = source_kind.replace("_", " ")
        return Gate(
            "credit_before_start",
            f"its {noun} is dated {source.doc_date}, before the start date {start.isoformat()}",
        )
    name = _SOURCE_GATE[source_kind]
    held = source.held if source else None
    return Gate(name, held) if held else _PLAIN[name]


_REASONS: dict[str, str] = {
    "disabled": "the Xero add-on is switched off: records are kept and flow when it is on again",
    "organisation": "this location is not linked to a Xero organisation yet (settings)",
    "connection": "the Xero organisation is not connected, or this location's connection is off",
    "account_codes": "account codes are not configured or not verified for this organisation",
    "contact_sync_not_started": "waiting for 'Start contact sync'",
    "start_date_unset": "choose a start date to start syncing data",
    "before_start_date": "dated before the start date: not sent (widen the start date to send)",
    "start_date_future": "the start date has not been reached yet",
    "contact_sync": "waiting for contact sync of this organisation to finish",
    "contact": "waiting for its customer to reach Xero",
    "invoice_before_start": (
        "its invoice is dated before the start date, so Xero has no invoice to pay: widen the "
        "start date, or send that invoice too ('include parent invoice')"
    ),
    "credit_note": "waiting for its credit note to reach Xero",
    "credit_before_start": (
        "the credit it draws on (a deposit, an overpayment or a credit note) is dated before the "
        "start date, so Xero does not have it: widen the start date, or send that record too "
        "('include parent')"
    ),
    "deposit": "waiting for its deposit to reach Xero",
    "overpayment": "waiting for the overpayment it refunds to reach Xero",
    "payments": (
        "waiting for the card payments (and card refunds) it settles to reach Xero: a payout "
        "moves them out of the clearing account, so it goes after them"
    ),
    "invoice": "waiting for its invoice to reach Xero",
    "lock_date": "waiting for the period to be unlocked in Xero",
    "contact_name_taken": (
        "Xero already has a contact with this name that is not provably ours (no contact number "
        "of ours): link it, or create ours under a distinct name"
    ),
    "xero_changed": (
        "changed in Xero since it was sent: Pet Manager's edit is not sent over the bookkeeper's "
        "change until an admin decides on the Books page"
    ),
}


def gate_reason(gate: str, detail: str | None = None) -> str:
    """What the dashboard says about a gate (plus the row's own detail when it has one)."""
    base = _REASONS.get(gate, gate)
    return f"{base} ({detail})" if detail else base
