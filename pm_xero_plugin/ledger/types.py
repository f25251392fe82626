"""The values that cross the ledger's interface: rows, their facts, new rows, organisations.

Plain data, no behaviour: what a row *means* for the sync (whether its dependants may go, why it
waits) is decided in :mod:`pm_xero_plugin.core`, from these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "LIVE",
    "BooksMark",
    "ClaimLost",
    "ClaimOwner",
    "Facts",
    "NewRow",
    "Parent",
    "Row",
    "RowKey",
    "RowPage",
    "RowQuery",
    "TenantRecord",
    "XeroCopy",
    "XeroEvent",
]


@dataclass(frozen=True)
class Row:
    """One host record for one organisation, as the worker and the dashboard see it."""

    id: int
    kind: str
    host_id: str
    tenant_id: str
    location_id: str
    state: str
    gate: str | None
    detail: str | None
    doc_date: str | None
    number: int | None
    dep_contact: str | None
    dep_invoice: str | None
    dep_credit_note: str | None
    include_before_start: bool
    payload: dict[str, Any]
    """The validated host record (latest version); for ``rejected`` rows the capped raw input."""
    payload_hash: str
    operation: str
    """``create``, ``update`` (an edit after it reached Xero) or ``void``."""
    pending_op: str | None
    xero_id: str | None
    attempts: int
    next_at: datetime | None
    lease_until: datetime | None
    uncertain: bool
    """A request went out and its outcome is unknown: look it up in Xero before re-sending."""
    message: str | None
    field: str | None
    hint: str | None
    updated_at: datetime | None
    priority: int = 0
    """1 for a live record (made through a hook, or needed by one), 0 for history."""
    xero_match: dict[str, Any] | None = None
    """A contact held behind ``contact_name_taken``: the Xero contact that has its name."""
    xero_name: str | None = None
    """A contact an admin chose to create under a distinct name: that name."""
    dep_invoice_date: str | None = None
    """The date of an invoice the ledger has no row for (see :class:`Facts`)."""
    claim_token: int | None = None
    """The fencing token of the claim that last took the row (ledger-wide, only ever growing):
    the worker holding it writes the row under ``Ledger.fenced``, and a write carrying an older
    token – a worker whose claim another worker has taken since – changes nothing."""
    recorded_at: datetime | None = None
    """When the row was first recorded in the ledger (what a fleet's "record to Xero" latency
    is measured from); ``None`` where a backend does not say."""


LIVE = 1
"""``priority`` of a live record: claimed before history of its organisation."""


@dataclass(frozen=True)
class Facts:
    """A row without its payload: what the rules and the bulk re-evaluations need."""

    id: int
    kind: str
    host_id: str
    tenant_id: str
    location_id: str
    state: str
    gate: str | None
    doc_date: str | None
    dep_contact: str | None
    dep_invoice: str | None
    dep_credit_note: str | None
    include_before_start: bool
    xero_id: str | None
    payload_hash: str
    operation: str
    number: int | None
    dep_invoice_date: str | None = None
    """The invoice's date, recorded at intake, when the ledger has no row for the invoice."""


@dataclass
class NewRow:
    """A row to insert (``state`` must be an initial state: waiting, ready or rejected)."""

    kind: str
    host_id: str
    tenant_id: str
    location_id: str
    state: str
    payload: str
    payload_hash: str
    gate: str | None = None
    detail: str | None = None
    doc_date: str | None = None
    number: int | None = None
    dep_contact: str | None = None
    dep_invoice: str | None = None
    dep_credit_note: str | None = None
    include_before_start: bool = False
    message: str | None = None
    field: str | None = None
    priority: int = 0
    dep_invoice_date: str | None = None
    """The date of an invoice the ledger has no row for (see :class:`Facts`)."""


@dataclass(frozen=True)
class TenantRecord:
    """Per-organisation sync state kept in the ledger."""

    tenant_id: str
    connected: bool
    connection_reason: str | None
    codes_state: str
    codes_detail: str | None
    contact_sync: str
    data_synced_at: datetime | None


class Parent(NamedTuple):
    """What the rules read of a row others depend on (a contact, invoice or credit note).

    A tuple, not a dataclass: a backfill reads one for almost every row it writes.
    """

    kind: str
    state: str
    gate: str | None
    xero_id: str | None
    doc_date: str | None
    include_before_start: bool


class ClaimOwner(NamedTuple):
    """Who holds rows in ``sending``, as a judge of liveness reads it (``sync/leases.py``)."""

    worker_id: str
    """The owner (``''`` when the rows name none)."""
    hostname: str | None
    """The machine its process runs on; ``None``: the owner has no worker row (legacy)."""
    pid: int | None
    """Its process id on that machine."""
    beat: int | None
    """Its beat counter: counts up while it lives (compared only with itself, never a clock)."""


class ClaimLost(Exception):
    """A worker wrote a row under a claim token that is no longer the row's: another worker has
    taken the row since (the first was judged gone). Nothing was changed; the stale worker
    leaves the row alone – it must neither settle nor re-send what another now owns."""

    def __init__(self, row_id: int, held: int, current: int | None) -> None:
        super().__init__(
            f"claim lost on row {row_id}: this worker holds claim {held}, "
            f"the row's claim is now {current}"
        )
        self.row_id = row_id
        self.held = held
        self.current = current


@dataclass(frozen=True)
class RowQuery:
    """What the dashboard's search asks for. Every field given narrows the rows; ``None`` or
    empty leaves that side open (an empty query: every row)."""

    number: int | None = None
    """The record's number as the host shows it (``121`` of ``INV121``), of any kind."""
    customer: str | None = None
    """Words, each the start of a word of a customer's name or email (``"ann le"`` finds Ann
    Lee): the customer's contact rows, every document naming that contact, and the payments of
    its invoices (a payment names its invoice, not the customer)."""
    states: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    date_from: str | None = None
    """The business date (``doc_date``, ISO), inclusive; contacts have none and drop out."""
    date_to: str | None = None
    """Inclusive, as ``date_from``."""
    tenant_id: str | None = None
    location_id: str | None = None


class RowKey(NamedTuple):
    """Where a row stands in the search's order – newest business date first, then the highest
    number, then the newest row; rows without a date (contacts) last. A page ends at one: the
    next page starts after it (keyset paging: no offset is ever counted through)."""

    doc_date: str | None
    number: int | None
    id: int


@dataclass(frozen=True)
class RowPage:
    """One page of a search."""

    rows: list[Row]
    next_after: RowKey | None
    """Pass it as ``after`` for the next page; ``None`` on the last page."""
    total: int | None
    """How many rows match in all, when the ledger can tell without counting through them
    (from its counts, or a small candidate set); ``None`` for a date range over the counts."""
    capped: bool = False
    """A number or customer matched more rows than a search reads (a single letter matches
    most customers): the page holds some of them; narrow the search for the rest."""


# -- Xero's side: what the reconciliation read and the webhooks said (docs/reconciliation.md) ---


@dataclass(frozen=True)
class XeroEvent:
    """One event of Xero's webhooks, kept durably from its arrival until it was handled.

    Xero sends no id of its own per event (``xero-webhooks.yaml``): ``key`` is its ``eventId``
    when a sender gives one, else a digest of what identifies it (tenant, category, type,
    resource and ``eventDateUtc``), so a delivery retried or replayed adds nothing."""

    key: str
    tenant_id: str
    category: str
    """``CONTACT``, ``INVOICE``, ``CREDITNOTE`` or ``SUBSCRIPTION``."""
    event_type: str
    """``CREATE`` or ``UPDATE``."""
    resource_id: str
    event_date: str
    """``eventDateUtc`` as Xero sent it (UTC, no zone)."""
    received_at: datetime
    handled_at: datetime | None = None
    """``None`` while it waits to be handled."""
    outcome: str | None = None
    """How it was handled: ``read`` (re-read from Xero), ``own`` (our own write, already
    known), ``not_ours`` (a record the add-on did not send), ``unknown_tenant``, ``given_up``."""
    attempts: int = 0
    """Failed attempts to handle it (Xero unreachable, the call budget spent): it stays pending."""
    error: str | None = None
    """Why the last attempt failed."""


@dataclass(frozen=True)
class XeroCopy:
    """Xero's version of one document the add-on sent, as last read (or as Xero answered the
    add-on's own write): the other side of the reconciliation.

    ``summary`` holds only what is compared, normalised by
    :func:`pm_xero_plugin.mapping.xero_copies.summarise` (amounts as strings, dates ISO)."""

    tenant_id: str
    kind: str
    """``contact``, ``invoice``, ``credit_note``, ``payment`` or ``overpayment``."""
    xero_id: str
    summary: dict[str, Any]
    updated_utc: str | None
    """Xero's ``UpdatedDateUTC`` of that version, ISO (UTC)."""
    read_at: datetime
    gone: bool = False
    """Xero answered that it has no such document (404), or no longer lists it."""


@dataclass(frozen=True)
class BooksMark:
    """An admin's (or the ``xero_changes`` setting's) decision on one difference, kept until
    either side changes again: an accepted difference is not reported again while Xero's version
    (``xero_fingerprint``) and the host's (``host_hash``) stay as they were."""

    tenant_id: str
    kind: str
    host_id: str
    difference: str
    """The difference's kind (:data:`pm_xero_plugin.core.differences.DIFFERENCE_KINDS`)."""
    action: str
    """``accepted`` (Xero's version stands, marked), ``resent``, ``relinked``."""
    xero_fingerprint: str
    host_hash: str
    at: datetime
    by: str | None = None
    """Who decided (the admin's user id, ``setting`` for the ``xero_changes`` setting)."""
    note: str | None = None
