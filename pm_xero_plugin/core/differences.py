"""The ledger beside Xero's copies: day totals and the records that differ (pure).

:class:`Comparison` is fed one organisation's ledger rows a page at a time (every kind, any
state) with Xero's versions of what the add-on sent (:class:`~pm_xero_plugin.ledger.XeroCopy`,
summarised as ``docs/reconciliation.md`` fixes) and the admin's kept decisions
(:class:`~pm_xero_plugin.ledger.BooksMark`); :meth:`Comparison.finish` gives the organisation's
:class:`~pm_xero_plugin.core.books.TenantBooks`. Nothing here reads a database or a clock: the
pass in :mod:`pm_xero_plugin.sync.books` brings the rows and copies, and the same rows and copies
always give the same report.

What is compared, per ledger kind (how each kind's amount is known from its row):

* ``contact`` – name and email as the add-on sends them (:func:`contact_name`, the payload's
  email rule), status (archived, merged, erased);
* ``invoice`` / ``credit_note`` – status, total, contact; an invoice's payments and credits in
  Xero that are not the add-on's own; a credit note's allocations that are not;
* ``allocation`` – a credit note applied to its invoice: the row keeps the *credit note's* Xero
  id, the amount is the credit note's total, Xero's side is the credit note's ``allocations``
  under the invoice's Xero id;
* ``payment`` – one row per part of a host payment (``<payment>:<invoice>``): the part's amount
  against the Xero payment's;
* ``overpayment`` – what a payment leaves over (its amount less its allocations).

Deposits, their allocations, refunds and payouts are not read back yet: their host totals show
(:attr:`~pm_xero_plugin.core.books.DayTotal.checked` ``False``) and the organisation names them in
``kinds_not_checked``.

One bookkeeper change gives one difference. A deleted payment of ours is reported on the payment
row, never again as its invoice being underpaid: an invoice is ``paid_in_xero`` only for
payments, credits, overpayments and prepayments Xero lists on it that the ledger does not know
as the add-on's own. A credit note (or overpayment) of ours applied by hand is reported on the
credit note (``allocated_in_xero``), not on the invoice it went to. A voided, deleted or missing
document is that one difference, not also a changed amount.

Rows that are not differences, and why:

* on their way (waiting, ready, sending, retrying): ``pending`` – the worker settles them, and an
  edit in flight is compared once it landed;
* failed: already the dashboard's failures, with their own ways out; counted in the totals as not
  in Xero, never listed here again;
* excluded or rejected: they do not belong in Xero, and count nowhere;
* in Xero by the ledger but Xero's copy not read yet: ``not_read`` (no difference until a read
  says something).

A difference an admin (or the ``xero_changes`` setting) decided is listed as decided while both
its fingerprints stand: Xero's side of *that difference* (:func:`fingerprint` of what it is
about – an accepted bookkeeper's payment is not reopened by our own payment landing on the same
invoice) and the row's payload hash. When either changes it is open again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pm_xero_plugin.core.books import DIFFERENCE_KINDS, DayTotal, Difference, TenantBooks
from pm_xero_plugin.inputs.settings import Prefixes
from pm_xero_plugin.ledger import Row
from pm_xero_plugin.ledger.states import Gate, State
from pm_xero_plugin.ledger.types import BooksMark, XeroCopy
from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.contacts import contact_name, contact_payload
from pm_xero_plugin.mapping.values import clip_text
from pm_xero_plugin.xero.kinds import SEND_ORDER

__all__ = ["CHECKED_KINDS", "COPY_KIND", "Comparison", "fingerprint", "host_amount"]

CHECKED_KINDS: Final = ("contact", "invoice", "credit_note", "allocation", "payment", "overpayment")
"""The ledger kinds whose Xero side is read back and compared."""

COPY_KIND: Final = {"allocation": "credit_note"}
"""The kind of Xero copy a row is compared with, where it is not the row's own: an allocation
lives on its credit note."""

_ON_THEIR_WAY: Final = frozenset({State.WAITING, State.READY, State.SENDING, State.RETRYING})
_NOT_IN_BOOKS: Final = frozenset({State.EXCLUDED, State.REJECTED})
_ZERO: Final = Decimal("0.00")
_CENT: Final = Decimal("0.01")
_EDITABLE: Final = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
_ORDER: Final = {kind: index for index, kind in enumerate(DIFFERENCE_KINDS)}
_MAX_EMAIL = 255
_ME: Final = "\x00record\x00"
"""Where a fix names its record: the label is made only for the few rows that differ."""


def fingerprint(summary: Mapping[str, Any]) -> str:
    """What identifies a version: the sha256 of its canonical JSON (keys sorted)."""
    text = json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _money(value: object) -> Decimal:
    """An amount of a payload or summary (anything unreadable counts as 0: the comparison
    reports, it never fails a pass over one odd value)."""
    if value is None or isinstance(value, bool):
        return _ZERO
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return _ZERO
    return amount if amount.is_finite() else _ZERO


def _text(amount: Decimal) -> str:
    return str(amount.quantize(_CENT))


def host_amount(row: Row) -> Decimal:
    """What a row's record is worth in the host, as the add-on sends it to Xero: a document's
    total (a voided invoice 0), a payment part's allocation, an overpayment's excess, an
    allocation's credit-note total, a deposit's or refund's amount, a payout's fees or
    transfer. A contact is worth nothing."""
    p = row.payload
    kind = row.kind
    if kind in ("invoice", "credit_note"):
        return _ZERO if p.get("status") == "voided" else _money(p.get("total"))
    if kind == "allocation":
        return _money(p.get("total"))
    if kind in ("payment", "deposit_allocation"):
        invoice_id = row.host_id.split(":", 1)[-1]
        for part in p.get("allocations") or ():
            if str(part.get("invoice_id")) == invoice_id:
                return _money(part.get("amount"))
        return _ZERO
    if kind == "overpayment":
        parts = sum((_money(a.get("amount")) for a in p.get("allocations") or ()), _ZERO)
        return _money(p.get("amount")) - parts
    if kind == "payout_fee":
        return _money(p.get("fees"))
    if kind == "contact":
        return _ZERO
    return _money(p.get("amount"))


@dataclass
class _Found:
    """A difference before it is named and matched with the kept marks."""

    difference: str
    host: str
    xero: str
    actions: tuple[str, ...]
    fix: str
    evidence: Mapping[str, Any]
    """Xero's side of this difference (its fingerprint)."""
    host_amount: Decimal | None = None
    xero_amount: Decimal | None = None
    relink_to: str | None = None


@dataclass
class _Day:
    host_count: int = 0
    host_total: Decimal = _ZERO
    xero_count: int = 0
    xero_total: Decimal = _ZERO
    pending: int = 0
    not_read: int = 0


@dataclass
class _Known:
    """What the ledger knows as the add-on's own in Xero, by Xero id."""

    invoice_xid: dict[str, str] = field(default_factory=dict)
    """Invoice host id → its Xero id."""
    invoice_by_xid: dict[str, Row] = field(default_factory=dict)
    contact_xid: dict[str, str] = field(default_factory=dict)
    payments: set[str] = field(default_factory=set)
    credit_notes: set[str] = field(default_factory=set)
    overpayments: set[str] = field(default_factory=set)
    prepayment_parts: set[tuple[str, str]] = field(default_factory=set)
    """(prepayment Xero id, invoice host id) of the deposits' allocations the add-on made."""
    allocations: dict[str, set[str]] = field(default_factory=dict)
    """Credit note host id → the invoice host ids the add-on applied it to."""
    parts_on_their_way: set[str] = field(default_factory=set)
    """Invoice host ids with a payment or allocation of ours still on its way (its Xero side
    may already hold what the ledger does not know yet)."""
    allocating: set[str] = field(default_factory=set)
    """Credit note host ids whose allocation is still on its way."""


class Comparison:
    """One organisation's ledger beside Xero's copies (see the module docstring).

    :param copies: kind → Xero id → Xero's version (the ``summary`` shapes of
        ``docs/reconciliation.md``).
    :param marks: the organisation's kept decisions.
    :param tolerance: the settings' ``rounding_tolerance``: amounts closer than it agree.
    :param prefixes: the settings' prefixes, to name records as the admin knows them
        (``INV12 Ann Lee``) and to tell what name the add-on gives a contact.
    """

    def __init__(
        self,
        tenant_id: str,
        *,
        copies: Mapping[str, Mapping[str, XeroCopy]],
        marks: Sequence[BooksMark],
        tolerance: Decimal,
        prefixes: Prefixes,
    ) -> None:
        self.tenant_id = tenant_id
        self.copies = copies
        self.tolerance = tolerance
        self.prefixes = prefixes
        self.marks = {(m.kind, m.host_id, m.difference): m for m in marks}
        self._rows: list[Row] = []
        self._contacts: dict[str, Row] = {}
        self._invoices: dict[str, Row] = {}
        self._owned: dict[str, set[str]] = {}
        """Xero ids the ledger's rows hold, per kind: never a re-link target for another row
        (two host records on one Xero document is a record posted to the wrong customer)."""
        self._known = _Known()

    def add(self, rows: Sequence[Row]) -> None:
        """A page of :meth:`~pm_xero_plugin.ledger.Ledger.rows_of_tenant` (another
        organisation's rows are left out). Everything is compared in :meth:`finish`: an
        invoice's payments and a credit note's allocation may come on later pages."""
        for row in rows:
            if row.tenant_id != self.tenant_id:
                continue
            self._rows.append(row)
            if row.xero_id:
                self._owned.setdefault(row.kind, set()).add(row.xero_id.lower())
            if row.kind == "contact":
                self._contacts[row.host_id] = row
            elif row.kind == "invoice":
                self._invoices[row.host_id] = row

    # -- the pass -------------------------------------------------------------------------------

    def finish(self) -> TenantBooks:
        """The organisation's totals and differences (open first, then decided)."""
        known = self._known = self._what_is_ours()
        days: dict[tuple[str, str, str], _Day] = {}
        found: list[Difference] = []
        present: set[str] = set()
        books = TenantBooks(tenant_id=self.tenant_id)
        for row in self._rows:
            if row.state in _NOT_IN_BOOKS:
                continue
            present.add(row.kind)
            day = None
            if row.doc_date is not None:
                day = days.get((row.location_id, row.doc_date, row.kind))
                if day is None:
                    day = days[(row.location_id, row.doc_date, row.kind)] = _Day()
                day.host_count += 1
                day.host_total += host_amount(row)
            if row.kind not in CHECKED_KINDS or row.state == State.FAILED:
                continue
            if row.state in _ON_THEIR_WAY and row.gate != Gate.XERO_CHANGED:
                if day is not None:
                    day.pending += 1
                continue
            # (an edit held because a bookkeeper changed the record in Xero: compared as it is
            # in Xero, so the difference it waits on stays listed with its actions)
            copy = self._copy(row, known)
            if copy is None:
                books.not_read += 1
                if day is not None:
                    day.not_read += 1
                continue
            books.checked += 1
            amount, diffs = self._check(row, copy, known)
            if day is not None and amount is not None:
                day.xero_count += 1
                day.xero_total += amount
            found.extend(self._difference(row, d) for d in diffs)
        found.sort(
            key=lambda d: (d.decided is not None, _ORDER[d.difference], d.day or "", d.row_id)
        )
        books.differences = found
        books.differences_total = sum(1 for d in found if d.decided is None)
        books.kinds_not_checked = [k for k in SEND_ORDER if k in present and k not in CHECKED_KINDS]
        unchecked = set(books.kinds_not_checked)
        books.totals = [
            DayTotal(
                tenant_id=self.tenant_id,
                location_id=location,
                day=on,
                kind=kind,
                host_count=d.host_count,
                host_total=_text(d.host_total),
                xero_count=d.xero_count,
                xero_total=_text(d.xero_total),
                pending=d.pending,
                not_read=d.not_read,
                checked=kind not in unchecked,
            )
            for (location, on, kind), d in sorted(days.items())
        ]
        return books

    def _what_is_ours(self) -> _Known:
        """One walk over the rows: what is ours in Xero, and what is still on its way."""
        known = _Known()
        for row in self._rows:
            if row.state in _NOT_IN_BOOKS or (row.state == State.FAILED and not row.xero_id):
                continue
            xid = (row.xero_id or "").lower()
            if row.kind in _PARTS:
                _note_part(known, row, xid)
            elif xid:
                by_kind = {
                    "contact": known.contact_xid,
                    "invoice": known.invoice_xid,
                }.get(row.kind)
                if by_kind is not None:
                    by_kind[row.host_id] = xid
                if row.kind == "invoice":
                    known.invoice_by_xid[xid] = row
                elif row.kind == "credit_note":
                    known.credit_notes.add(xid)
                elif row.kind == "overpayment":
                    known.overpayments.add(xid)
        return known

    def _copy(self, row: Row, known: _Known) -> XeroCopy | None:
        """Xero's version to compare ``row`` with (``None``: not read yet, nothing to say)."""
        if not row.xero_id:
            return None
        by_id = self.copies.get(COPY_KIND.get(row.kind, row.kind)) or {}
        copy = by_id.get(row.xero_id) or by_id.get(row.xero_id.lower())
        if (
            copy is not None
            and row.kind == "allocation"
            and not copy.gone
            and row.dep_invoice not in known.invoice_xid
        ):
            return None  # its invoice's Xero id is not known: nothing to look under
        return copy

    def _check(
        self, row: Row, copy: XeroCopy, known: _Known
    ) -> tuple[Decimal | None, list[_Found]]:
        """Xero's amount for the totals (``None``: not counted) and the differences."""
        if row.kind == "contact":
            return None, self._contact(row, copy)
        if row.kind in ("invoice", "credit_note"):
            return self._document(row, copy, known)
        if row.kind == "allocation":
            return self._allocation(row, copy, known)
        if row.kind == "payment":
            return self._payment(row, copy)
        return self._overpayment(row, copy, known)

    # -- one kind at a time ----------------------------------------------------------------------

    def _contact(self, row: Row, copy: XeroCopy) -> list[_Found]:
        me = _ME
        if copy.gone:
            target = self._contact_by_number(row)
            return [_missing(me, "contact", target)]
        s = copy.summary
        status = str(s.get("status") or "ACTIVE").upper()
        merged = _lower(s.get("merged_to"))
        if status == "GDPRREQUEST":
            return [
                _Found(
                    "deleted_in_xero",
                    "active",
                    "erasure requested (GDPR)",
                    ("accept",),
                    f"{me} asked to be forgotten in Xero; remove the customer's details in Pet "
                    "Manager too, then accept",
                    {"status": status},
                )
            ]
        if status == "ARCHIVED" or merged:
            if merged:
                into = self._contact_name(merged)
                return [
                    _Found(
                        "deleted_in_xero",
                        "active",
                        f"merged into {into}",
                        ("relink", "accept"),
                        f"{me} was merged into {into} in Xero; re-link the customer to it",
                        {"status": status, "merged_to": merged},
                        relink_to=merged,
                    )
                ]
            return [
                _Found(
                    "deleted_in_xero",
                    "active",
                    "archived",
                    ("accept",),
                    f"{me} is archived in Xero: restore it there (Contacts, Archived, Restore) "
                    "while Pet Manager still bills them – Xero takes no new invoice for an "
                    "archived contact – or accept that it stays archived",
                    {"status": status},
                )
            ]
        ours_name, ours_email = self._what_we_send(row, s.get("email"))
        theirs_name = str(s.get("name") or "")
        theirs_email = _lower(s.get("email"))
        changes = []
        if theirs_name.strip().casefold() != ours_name.strip().casefold():
            changes.append(("name", ours_name, theirs_name))
        if theirs_email != _lower(ours_email):
            changes.append(("email", ours_email or "none", s.get("email") or "none"))
        if not changes:
            return []
        host = "; ".join(f"{what} {ours}" for what, ours, _ in changes)
        xero = "; ".join(f"{what} {theirs}" for what, _, theirs in changes)
        return [
            _Found(
                "details_changed",
                host,
                xero,
                ("resend", "accept"),
                f"{me}'s {' and '.join(c[0] for c in changes)} changed in Xero ({xero}); re-send "
                f"Pet Manager's ({host}), or change it in Pet Manager",
                {"name": theirs_name, "email": theirs_email},
            )
        ]

    def _what_we_send(self, row: Row, theirs: object) -> tuple[str, str | None]:
        """The name and email the add-on gives this contact in Xero. The email is the payload
        rule's (an address Xero would refuse is left out): checked through the payload builder
        only when the plain text differs, so 50,000 contacts cost 50,000 string compares."""
        m = OrgMapping(self.tenant_id, row.location_id, prefixes=self.prefixes)
        name = row.xero_name or contact_name(row.payload, m)
        email = clip_text(row.payload.get("email"), _MAX_EMAIL)
        if _lower(email) != _lower(theirs):
            with contextlib.suppress(Exception):  # a payload the builder refuses: text stands
                email = contact_payload(row.payload, m).get("EmailAddress")
        return name, email

    def _document(
        self, row: Row, copy: XeroCopy, known: _Known
    ) -> tuple[Decimal | None, list[_Found]]:
        me = _ME
        noun = "invoice" if row.kind == "invoice" else "credit note"
        if copy.gone:
            return None, [_missing(me, noun, self._same_document(row, known))]
        s = copy.summary
        status = str(s.get("status") or "").upper()
        total = _money(s.get("total"))
        if status == "DELETED":
            return _ZERO, [
                _Found(
                    "deleted_in_xero",
                    "live",
                    "DELETED",
                    ("accept",),
                    f"{me} was deleted in Xero, which keeps its number: void it in Pet Manager "
                    "too (raise it again there to send it under a new number)",
                    {"status": status},
                )
            ]
        host_voided = row.payload.get("status") == "voided"
        if status == "VOIDED":
            if host_voided:
                return _ZERO, []
            return _ZERO, [
                _Found(
                    "voided_in_xero",
                    "live",
                    "VOIDED",
                    ("accept",),
                    f"Void {me} in Pet Manager too – Xero cannot un-void it",
                    {"status": status},
                )
            ]
        out: list[_Found] = []
        mine = host_amount(row)
        editable = self._editable(row, s, status)
        if not host_voided and abs(total - mine) > self.tolerance:
            out.append(_amount_changed(me, mine, total, editable))
        contact = known.contact_xid.get(str(row.payload.get("client_id")))
        theirs = _lower(s.get("contact_id"))
        if contact and theirs and theirs != contact:
            customer = self._customer(row)
            out.append(
                _Found(
                    "contact_changed",
                    f"contact {customer}",
                    f"contact {self._contact_name(theirs)}",
                    ("resend", "accept") if editable else ("accept",),
                    f"{me} is on {self._contact_name(theirs)} in Xero; "
                    + (
                        f"re-send it to put it back on {customer}, "
                        if editable
                        else "move it back in Xero, "
                    )
                    + "or change the customer in Pet Manager",
                    {"contact_id": theirs},
                )
            )
        if row.kind == "invoice":
            out += self._paid_in_xero(row, s, known, me)
        else:
            out += self._allocated_in_xero(row, s, known, me)
        return total, out

    def _editable(self, row: Row, s: Mapping[str, Any], status: str) -> bool:
        """Whether Xero takes the host's version over this document: not paid, credited,
        allocated or voided there."""
        if status not in _EDITABLE:
            return False
        if row.kind == "invoice":
            return _money(s.get("amount_paid")) == 0 and _money(s.get("amount_credited")) == 0
        return not s.get("allocations")

    def _paid_in_xero(self, row: Row, s: Mapping[str, Any], known: _Known, me: str) -> list[_Found]:
        """Payments and credits on the invoice in Xero that the ledger does not know as its own
        (ours deleted or changed are their own rows' differences; ours applied by hand are the
        credit note's or overpayment's)."""
        if row.host_id in known.parts_on_their_way:
            return []  # a payment of ours may be in Xero before the ledger knows its id
        unknown: dict[str, str] = {}
        for pid, amount in (s.get("payments") or {}).items():
            if _lower(pid) not in known.payments:
                unknown[f"payment {pid}"] = str(amount)
        for cid, amount in (s.get("credits") or {}).items():
            if _lower(cid) not in known.credit_notes:
                unknown[f"credit note {cid}"] = str(amount)
        for oid, amount in (s.get("overpayments") or {}).items():
            if _lower(oid) not in known.overpayments:
                unknown[f"overpayment {oid}"] = str(amount)
        for pid, amount in (s.get("prepayments") or {}).items():
            if (_lower(pid), row.host_id) not in known.prepayment_parts:
                unknown[f"prepayment {pid}"] = str(amount)
        paid = sum((_money(a) for a in unknown.values()), _ZERO)
        if paid <= self.tolerance:
            return []
        return [
            _Found(
                "paid_in_xero",
                "no such payment",
                f"paid {_text(paid)} in Xero ({', '.join(sorted(unknown))})",
                ("accept",),
                f"Accept it if the payment of {_text(paid)} on {me} belongs only in Xero; to "
                "keep it in Pet Manager instead, remove it in Xero first and then record it in "
                "Pet Manager (the add-on sends it – recorded in both, it would be paid twice)",
                {"unknown": unknown},
                xero_amount=paid,
            )
        ]

    def _allocated_in_xero(
        self, row: Row, s: Mapping[str, Any], known: _Known, me: str
    ) -> list[_Found]:
        """Our credit note (or overpayment) applied in Xero to invoices the ledger did not
        apply it to (the add-on applies a credit note to its own invoice only, and never an
        overpayment)."""
        to: set[str] = set()
        if row.kind == "credit_note":
            if row.host_id in known.allocating:
                return []  # its allocation is on its way: Xero may have it already
            to = known.allocations.get(row.host_id, set())
        ours = {known.invoice_xid.get(i) for i in to}
        unknown = {
            str(inv).lower(): str(amount)
            for inv, amount in (s.get("allocations") or {}).items()
            if str(inv).lower() not in ours and _money(amount) > 0
        }
        if not unknown:
            return []
        where = [self._invoice_name(inv) for inv in sorted(unknown)]
        applied = sum((_money(a) for a in unknown.values()), _ZERO)
        return [
            _Found(
                "allocated_in_xero",
                "not applied there",
                "applied to "
                + ", ".join(
                    f"{w} ({unknown[i]})" for w, i in zip(where, sorted(unknown), strict=True)
                ),
                ("accept",),
                f"Accept it if {me} stays applied to {', '.join(where)} in Xero only; to keep "
                "it in Pet Manager instead, remove the allocation in Xero first and then apply "
                "it in Pet Manager (the add-on sends it – applied in both, it would count twice)",
                {"unknown": unknown},
                xero_amount=applied,
            )
        ]

    def _allocation(
        self, row: Row, copy: XeroCopy, known: _Known
    ) -> tuple[Decimal | None, list[_Found]]:
        """A credit note applied to its invoice: Xero's side is the credit note's allocations
        under the invoice's id. A credit note gone, deleted or voided is the credit note's
        difference, not this one's too."""
        s = copy.summary
        if copy.gone or str(s.get("status") or "").upper() in ("DELETED", "VOIDED"):
            return _ZERO, []
        invoice = known.invoice_xid[str(row.dep_invoice)]
        allocations = {_lower(k): v for k, v in (s.get("allocations") or {}).items()}
        mine = host_amount(row)
        me = _ME
        if invoice not in allocations:
            return _ZERO, [
                _Found(
                    "missing_in_xero",
                    f"applied {_text(mine)}",
                    "not applied",
                    ("resend",),
                    f"{me} is not applied in Xero; re-send the allocation",
                    {"allocated": None},
                    host_amount=mine,
                    xero_amount=_ZERO,
                )
            ]
        theirs = _money(allocations[invoice])
        if abs(theirs - mine) <= self.tolerance:
            return theirs, []
        return theirs, [
            _Found(
                "amount_changed",
                f"applied {_text(mine)}",
                f"applied {_text(theirs)}",
                ("accept",),
                f"{me} is applied with {_text(theirs)} in Xero, {_text(mine)} in Pet Manager; "
                "correct the allocation in Xero (Xero cannot change one in place), or accept",
                {"allocated": str(theirs)},
                host_amount=mine,
                xero_amount=theirs,
            )
        ]

    def _payment(self, row: Row, copy: XeroCopy) -> tuple[Decimal | None, list[_Found]]:
        me = _ME
        if copy.gone:
            return None, [_missing(me, "payment", None)]
        s = copy.summary
        mine = host_amount(row)
        if str(s.get("status") or "").upper() == "DELETED":
            return _ZERO, [
                _Found(
                    "deleted_in_xero",
                    f"amount {_text(mine)}",
                    "DELETED",
                    ("resend", "accept"),
                    f"{me} was deleted in Xero; delete the payment in Pet Manager too, or "
                    "re-send it",
                    {"status": "DELETED"},
                    host_amount=mine,
                    xero_amount=_ZERO,
                )
            ]
        theirs = _money(s.get("amount"))
        if abs(theirs - mine) <= self.tolerance:
            return theirs, []
        return theirs, [
            _Found(
                "amount_changed",
                f"amount {_text(mine)}",
                f"amount {_text(theirs)}",
                ("accept",),
                f"{me} is {_text(theirs)} in Xero and {_text(mine)} in Pet Manager; correct "
                "the payment in Pet Manager, or delete it in Xero and re-send it",
                {"amount": str(theirs)},
                host_amount=mine,
                xero_amount=theirs,
            )
        ]

    def _overpayment(
        self, row: Row, copy: XeroCopy, known: _Known
    ) -> tuple[Decimal | None, list[_Found]]:
        me = _ME
        if copy.gone:
            return None, [_missing(me, "overpayment", None)]
        s = copy.summary
        status = str(s.get("status") or "").upper()
        mine = host_amount(row)
        if status in ("DELETED", "VOIDED"):
            return _ZERO, [
                _Found(
                    "deleted_in_xero",
                    f"amount {_text(mine)}",
                    status,
                    ("resend", "accept"),
                    f"{me} was {status.lower()} in Xero; correct the payment in Pet Manager "
                    "too, or re-send it",
                    {"status": status},
                    host_amount=mine,
                    xero_amount=_ZERO,
                )
            ]
        out: list[_Found] = []
        theirs = _money(s.get("total"))
        if abs(theirs - mine) > self.tolerance:
            out.append(
                _Found(
                    "amount_changed",
                    f"amount {_text(mine)}",
                    f"amount {_text(theirs)}",
                    ("accept",),
                    f"{me} is {_text(theirs)} in Xero and {_text(mine)} in Pet Manager; correct "
                    "the payment in Pet Manager, or accept",
                    {"total": str(theirs)},
                    host_amount=mine,
                    xero_amount=theirs,
                )
            )
        contact = known.contact_xid.get(str(row.payload.get("client_id")))
        holder = _lower(s.get("contact_id"))
        if contact and holder and holder != contact:
            out.append(
                _Found(
                    "contact_changed",
                    f"contact {self._customer(row)}",
                    f"contact {self._contact_name(holder)}",
                    ("accept",),
                    f"{me} is held for {self._contact_name(holder)} in Xero; move it back in "
                    "Xero (Xero cannot change an overpayment's contact through the add-on), or "
                    "accept",
                    {"contact_id": holder},
                )
            )
        out += self._allocated_in_xero(row, s, known, me)
        return theirs, out

    # -- names -------------------------------------------------------------------------------------

    def _customer(self, row: Row) -> str:
        """The customer's name as the host has it (``Ann Lee``), or its host id."""
        host_id = row.host_id if row.kind == "contact" else str(row.payload.get("client_id"))
        contact = self._contacts.get(host_id)
        if contact is None:
            return f"customer {host_id}"
        parts = (str(contact.payload.get(k) or "").strip() for k in ("first_name", "last_name"))
        return " ".join(p for p in parts if p) or f"customer {host_id}"

    def _number(self, kind: str, number: int | None) -> str:
        prefix = {
            "contact": self.prefixes.client,
            "invoice": self.prefixes.invoice,
            "credit_note": self.prefixes.credit_note,
            "allocation": self.prefixes.credit_note,
            "payment": self.prefixes.payment,
            "overpayment": self.prefixes.payment,
        }.get(kind, "")
        return f"{prefix}{number}" if number is not None else kind.replace("_", " ")

    def _label(self, row: Row) -> str:
        """The record as the admin knows it: ``INV12 Ann Lee``, ``PAY5 Ann Lee (INV12)``,
        ``CN3 on INV9 Ann Lee``, ``PAY5 Ann Lee (overpayment)``."""
        number = self._number(row.kind, row.number)
        customer = self._customer(row)
        if row.kind == "payment":
            return f"{number} {customer} ({self._invoice_of(row)})"
        if row.kind == "allocation":
            return f"{number} on {self._invoice_of(row)} {customer}"
        if row.kind == "overpayment":
            return f"{number} {customer} (overpayment)"
        return f"{number} {customer}"

    def _invoice_of(self, row: Row) -> str:
        """The invoice a payment part or allocation is against, by its number (``INV12``)."""
        host_id = row.dep_invoice or row.host_id.split(":", 1)[-1]
        invoice = self._invoices.get(host_id)
        if invoice is None:
            return f"invoice {host_id}"
        return self._number("invoice", invoice.number)

    def _invoice_name(self, xero_id: str) -> str:
        """An invoice in Xero by its number: ours (``INV9 Ann Lee``) or Xero's own."""
        ours = self._known.invoice_by_xid.get(xero_id)
        if ours is not None:
            return f"{self._number('invoice', ours.number)} {self._customer(ours)}"
        copy = (self.copies.get("invoice") or {}).get(xero_id)
        if copy is not None and copy.summary.get("number"):
            return str(copy.summary["number"])
        return f"invoice {xero_id}"

    def _contact_name(self, xero_id: str) -> str:
        """A Xero contact by its name where it was read, else its id."""
        copy = (self.copies.get("contact") or {}).get(xero_id)
        if copy is not None and copy.summary.get("name"):
            return str(copy.summary["name"])
        return f"contact {xero_id}"

    # -- relinks -----------------------------------------------------------------------------------

    def _contact_by_number(self, row: Row) -> str | None:
        """A contact in Xero carrying this customer's number (ours by ContactNumber)."""
        number = self._number("contact", row.number)
        for xid, copy in (self.copies.get("contact") or {}).items():
            if (
                not copy.gone
                and copy.summary.get("number") == number
                and xid not in self._owned.get("contact", ())
            ):
                return xid
        return None

    def _same_document(self, row: Row, known: _Known) -> str | None:
        """A live document in Xero that is provably this one: the same number, contact, total
        and date (the add-on's own number is its natural key)."""
        number = self._number(row.kind, row.number)
        contact = known.contact_xid.get(str(row.payload.get("client_id")))
        total = host_amount(row)
        for xid, copy in (self.copies.get(row.kind) or {}).items():
            s = copy.summary
            if (
                not copy.gone
                and xid not in self._owned.get(row.kind, ())
                and s.get("number") == number
                and _lower(s.get("contact_id")) == contact
                and s.get("date") == row.doc_date
                and abs(_money(s.get("total")) - total) <= self.tolerance
                and str(s.get("status") or "").upper() not in ("DELETED", "VOIDED")
            ):
                return xid
        return None

    # -- the admin's words and marks ---------------------------------------------------------------

    def _difference(self, row: Row, f: _Found) -> Difference:
        label = self._label(row)
        xero_fingerprint = fingerprint({"difference": f.difference, **f.evidence})
        mark = self.marks.get((row.kind, row.host_id, f.difference))
        decided = (
            mark
            if mark is not None
            and mark.xero_fingerprint == xero_fingerprint
            and mark.host_hash == row.payload_hash
            else None
        )
        return Difference(
            tenant_id=row.tenant_id,
            location_id=row.location_id,
            kind=row.kind,
            host_id=row.host_id,
            row_id=row.id,
            difference=f.difference,
            label=label,
            day=row.doc_date,
            host=f.host,
            xero=f.xero,
            actions=f.actions,
            fix=f.fix.replace(_ME, label),
            xero_id=row.xero_id,
            xero_fingerprint=xero_fingerprint,
            host_hash=row.payload_hash,
            host_amount=None if f.host_amount is None else _text(f.host_amount),
            xero_amount=None if f.xero_amount is None else _text(f.xero_amount),
            decided=decided.action if decided else None,
            decided_by=decided.by if decided else None,
            decided_at=decided.at.isoformat() if decided else None,
            relink_to=f.relink_to,
        )


_PARTS: Final = frozenset({"payment", "allocation", "deposit_allocation"})
"""The kinds that apply money to an invoice."""


def _note_part(known: _Known, row: Row, xid: str) -> None:
    """What a payment part, credit-note allocation or deposit allocation tells of its invoice."""
    moving = row.state in _ON_THEIR_WAY
    if moving and row.dep_invoice:
        known.parts_on_their_way.add(row.dep_invoice)
    if row.kind == "payment":
        if xid:
            known.payments.add(xid)
    elif row.kind == "allocation":
        if moving:
            known.allocating.add(row.host_id)
        elif row.dep_invoice and row.state == State.SYNCED:
            known.allocations.setdefault(row.host_id, set()).add(row.dep_invoice)
    elif xid and not moving and row.dep_invoice:
        known.prepayment_parts.add((xid, row.dep_invoice))


def _lower(value: object) -> str | None:
    """An id or email compared as Xero compares it (case does not matter); blank is none."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


def _missing(me: str, noun: str, target: str | None) -> _Found:
    """Xero has no such document (it answered 404): re-send it, or re-link to the one that is
    provably it."""
    if target is not None:
        return _Found(
            "missing_in_xero",
            "in Xero",
            f"not found; the same {noun} is in Xero as {target}",
            ("relink", "resend"),
            f"{me} is not in Xero under the id the add-on kept, but the same {noun} is there; "
            "re-link to it",
            {"gone": True, "same": target},
            relink_to=target,
        )
    return _Found(
        "missing_in_xero",
        "in Xero",
        "not found",
        ("resend",),
        f"{me} is not in Xero; re-send it",
        {"gone": True},
    )


def _amount_changed(me: str, mine: Decimal, theirs: Decimal, editable: bool) -> _Found:
    how = (
        "re-send Pet Manager's version, or change it in Pet Manager"
        if editable
        else "Xero will not change it while it is paid, credited or allocated there: remove "
        "those in Xero first to re-send it, or change it in Pet Manager"
    )
    return _Found(
        "amount_changed",
        f"total {_text(mine)}",
        f"total {_text(theirs)}",
        ("resend", "accept") if editable else ("accept",),
        f"{me} totals {_text(theirs)} in Xero and {_text(mine)} in Pet Manager; {how}",
        {"total": str(theirs)},
        host_amount=mine,
        xero_amount=theirs,
    )
