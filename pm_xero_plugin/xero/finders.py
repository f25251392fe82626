"""Finding our records in Xero again by their natural key: the exactly-once guard.

Idempotency keys live six minutes; a number or reference holds for ever. Before a row whose
earlier send may have reached Xero is sent again, it is looked up here and adopted when Xero has
it. Table-driven from :data:`pm_xero_plugin.xero.kinds.KINDS` (each kind's natural key, look-up
and id field) plus **one rule** for which of Xero's documents is ours (:func:`judge`): only one
that is provably ours – same contact, total and date; for a payment the same invoice, amount,
date and reference – is adopted, and the fields that decided it are kept.

The money flows, each by its natural key: a *deposit* by our reference (``DEP12``) and, since
Xero does not keep ``Reference`` on a prepayment, by its contact's prepayment whose line
starts with our number – same contact, amount and date, kept under its ``PrepaymentID`` (what
its allocations and refunds name); a *deposit allocation* on the prepayment (its allocation
to our invoice, as a credit note's); a *refund* (of a credit note, an overpayment, a deposit)
by reference ``RF3``, out of the same credit, of the same amount, date and account, of the
payment type Xero gives such a refund; a *payout's fees* by reference ``PO7`` as a SPEND of
the same total and date on the same (clearing) account; a *payout* by reference ``PO7`` as
the transfer of the same amount and date between the same two accounts. A row whose earlier
create may have reached Xero (:attr:`Wanted.in_doubt`) may have been edited since: there a
document under our key that our *identity* fields match (:data:`IDENTITY`: our contact; for a
payment our invoice and reference) is ours even when its total or date differ – a
:class:`Match` that says what differs, for the caller to send as an update. Another document
under a number Xero holds once is a :class:`Clash`, shown with both sides
(:func:`describe_clash`). The start-date preview uses the same look-up, to tell an admin what
Xero already holds under the numbers it would send and which of them will fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from pm_xero_plugin.xero.dates import parse_xero_date
from pm_xero_plugin.xero.kinds import KINDS, KeyLookups

__all__ = [
    "CLASH_HINT",
    "IDENTITY",
    "UNIQUE_KEYS",
    "Clash",
    "Finders",
    "Found",
    "Match",
    "Verdict",
    "Wanted",
    "already_in_xero",
    "decide",
    "describe_clash",
    "find_by_key",
    "judge",
    "look_up",
    "xero_date",
]


class Finders(KeyLookups, Protocol):
    """Every look-up :func:`already_in_xero` makes (a :class:`~.client.XeroClient` has them)."""

    def find_overpayments_of_contact(
        self, tenant_id: str, connection_key: str, contact_id: str
    ) -> list[dict[str, Any]]:
        """Live overpayments of one contact, lines included."""
        ...

    def credit_note_allocated_to(
        self, tenant_id: str, connection_key: str, credit_note_id: str, invoice_id: str
    ) -> bool:
        """Whether the credit note already has an allocation to that invoice."""
        ...

    def find_prepayments_of_contact(
        self, tenant_id: str, connection_key: str, contact_id: str
    ) -> list[dict[str, Any]]:
        """Live prepayments (``RECEIVE-PREPAYMENT``) of one contact, lines included."""
        ...

    def prepayment_allocated_to(
        self, tenant_id: str, connection_key: str, prepayment_id: str, invoice_id: str
    ) -> bool:
        """Whether the prepayment (a deposit) already has an allocation to that invoice."""
        ...


@dataclass(frozen=True)
class Wanted:
    """One record to look for: ``ref`` names it to the caller (a ledger row id), ``key`` is its
    natural key (for an allocation: its credit note's Xero id), ``element`` what would be sent."""

    ref: int
    key: str
    element: Mapping[str, Any]
    create: bool = True
    """A create (``PUT``); an update or void only adopts a document it made void."""
    total: str | None = None
    """The document's total as the host has it (invoices, credit notes): Xero's must equal it."""
    contact_number: str | None = None
    """Our number of the document's customer (``C10``): Xero's contact carrying it is ours."""
    in_doubt: bool = False
    """An earlier create of this row went out with an unknown outcome, and the row may have
    been edited since: Xero's document under our key is ours when :data:`IDENTITY` agrees,
    whatever else differs (what Xero holds is then our older version)."""


@dataclass(frozen=True)
class Match:
    """A document in Xero that is provably ours, and the fields that proved it."""

    xero_id: str
    decided_by: tuple[str, ...]
    differs: tuple[str, ...] = ()
    """Fields where Xero's copy differs from the row (only for a row in doubt: our older
    version, to be brought up to date by an update)."""


@dataclass(frozen=True)
class Clash:
    """A document in Xero under our number that is *not* ours: what Xero has, and how it
    differs (its number is unique, so ours cannot be created until an admin acts)."""

    theirs: Mapping[str, Any]
    differs: tuple[str, ...]


@dataclass
class Found:
    """What a look-up found, by :attr:`Wanted.ref`."""

    ours: dict[int, Match] = field(default_factory=dict)
    clashes: dict[int, Clash] = field(default_factory=dict)

    def ids(self) -> dict[int, str]:
        """Xero ids of the documents that are ours."""
        return {ref: match.xero_id for ref, match in self.ours.items()}


IDENTITY: dict[str, tuple[str, ...]] = {
    "invoice": ("Contact",),
    "credit_note": ("Contact",),
    "payment": ("Invoice", "Reference"),
    "overpayment": ("Contact",),
    "deposit": ("Contact",),
    "credit_note_refund": ("CreditNote", "Reference"),
    "overpayment_refund": ("Overpayment", "Reference"),
    "deposit_refund": ("Prepayment", "Reference"),
    "payout_fee": ("BankAccount", "Reference"),
    "payout": ("FromBankAccount", "ToBankAccount", "Reference"),
}
"""The fields of :func:`judge` that make a document under our key ours for a row in doubt,
whatever else an edit since changed: found by our own number (or reference), for our own
contact (our ContactID or a contact carrying our contact number) – a typed-in document of
another customer under our number stays a clash. For a refund: the credit it comes out of and
our reference; for a payout: the accounts it moves money between (its fees: the clearing
account) and our reference. None of these Xero edits in place, so an older version found this
way fails the row for an admin (:func:`~pm_xero_plugin.xero.kinds.edit_refusal`) instead of
being sent a second time."""

UNIQUE_KEYS = frozenset({"contact", "invoice", "credit_note"})
"""Kinds whose natural key Xero holds once: another document under it is a clash, not a miss
(payments and overpayments may share a reference with documents that are not ours)."""

CLASH_HINT = (
    "Another document in Xero already has this number. Change the number prefix under Xero "
    "settings, or void (or renumber) the other one in Xero – then retry. If Xero's is this one "
    "after all (edited there), resolve this instead."
)
"""The ways out of a clash, for the row's hint and the start-date preview."""


def find_by_key(
    client: KeyLookups, tenant_id: str, connection_key: str, kind: str, keys: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """What Xero holds under each of ``keys`` for ``kind``, as a list per key (several payments
    share the reference of one host payment split over invoices). Empty for a kind without a
    look-up by natural key (allocations)."""
    lookup = KINDS[kind].lookup
    if lookup is None:
        return {}
    found = lookup(client, tenant_id, connection_key, sorted(set(keys)))
    return {str(key): _as_list(hits) for key, hits in found.items()}


def already_in_xero(
    client: Finders, tenant_id: str, connection_key: str, kind: str, wanted: Sequence[Wanted]
) -> dict[int, str]:
    """Xero ids of the documents Xero already has for ``wanted`` that are provably ours."""
    return look_up(client, tenant_id, connection_key, kind, wanted).ids()


def look_up(
    client: Finders, tenant_id: str, connection_key: str, kind: str, wanted: Sequence[Wanted]
) -> Found:
    """What Xero holds under each record's key, judged by :func:`judge`: the documents that
    are provably ours (with what proved it), and the foreign ones that hold a unique number."""
    if kind in _ALLOCATED_TO:
        return _allocations(client, tenant_id, connection_key, kind, wanted)
    found = Found()
    hits = find_by_key(client, tenant_id, connection_key, kind, (w.key for w in wanted))
    for w in wanted:
        _judge_hits(kind, w, hits.get(w.key, []), found)
    if kind == "overpayment":
        for w in wanted:
            if w.ref not in found.ours:
                by_line = _overpayment_by_line(client, tenant_id, connection_key, w)
                if by_line:
                    found.ours[w.ref] = Match(by_line, ("Contact", "line description", "Total"))
    if kind == "deposit":
        for w in wanted:
            if w.ref not in found.ours:
                _deposit_by_line(client, tenant_id, connection_key, w, found)
    return found


_ALLOCATED_TO: dict[str, tuple[str, str]] = {
    "allocation": ("credit_note_allocated_to", "CreditNoteID"),
    "deposit_allocation": ("prepayment_allocated_to", "PrepaymentID"),
}
"""Kinds found on the credit they draw on (their :attr:`Wanted.key` is its Xero id): the
client's look-up, and the id field that names it."""


def _allocations(
    client: Finders, tenant_id: str, connection_key: str, kind: str, wanted: Sequence[Wanted]
) -> Found:
    """An allocation is ours when our credit note (or our deposit's prepayment) already has
    one to our invoice: Xero keeps no reference on an allocation, and ours is the only one a
    row ever makes from that credit to that invoice."""
    method, id_field = _ALLOCATED_TO[kind]
    allocated_to: Callable[[str, str, str, str], bool] = getattr(client, method)
    found = Found()
    for w in wanted:
        invoice_id = w.element["Invoice"]["InvoiceID"]
        if allocated_to(tenant_id, connection_key, w.key, invoice_id):
            found.ours[w.ref] = Match(w.key, (id_field, "Invoice"))
    return found


def _judge_hits(kind: str, w: Wanted, hits: list[dict[str, Any]], found: Found) -> None:
    outcome = decide(kind, w, hits)
    if isinstance(outcome, Match):
        found.ours[w.ref] = outcome
    elif isinstance(outcome, Clash):
        found.clashes[w.ref] = outcome


def decide(kind: str, w: Wanted, hits: Iterable[Mapping[str, Any]]) -> Match | Clash | None:
    """Of what Xero holds under one record's key: the first document that is ours, else (for
    a row in doubt) the first that is our older version, else (for a key Xero holds once) the
    one in the way, else ``None`` (nothing that counts)."""
    older: Match | None = None
    clash: Clash | None = None
    for hit in hits:
        xero_id = _xero_id(kind, hit)
        verdict = judge(kind, w, hit)
        if verdict is None or not xero_id:
            continue
        if not verdict.differs:
            return Match(xero_id, verdict.decided_by)
        if older is None and _ours_before_an_edit(kind, w, verdict):
            older = Match(xero_id, verdict.decided_by, verdict.differs)
        elif kind in UNIQUE_KEYS and clash is None:
            clash = Clash(hit, verdict.differs)
    return older or clash


def _ours_before_an_edit(kind: str, w: Wanted, verdict: Verdict) -> bool:
    """A row in doubt whose identity fields all agree: Xero holds an older version of it."""
    identity = IDENTITY.get(kind)
    return bool(w.in_doubt and identity and set(identity) <= set(verdict.decided_by))


@dataclass(frozen=True)
class Verdict:
    """Whether one of Xero's documents under our key is ours: the fields that agree, and the
    ones that differ (none: it is ours)."""

    decided_by: tuple[str, ...]
    differs: tuple[str, ...]


def judge(kind: str, wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """The one rule for adopting a document Xero already has: only when it is provably ours.

    Same contact (our ContactID, or a contact carrying our contact number), same total and same
    date for an invoice or credit note; same invoice, amount, date and reference for a payment;
    same contact, amount and date for an overpayment or a deposit; same credit, amount, date,
    account, reference and payment type for a refund; same account(s), amount, date and
    reference for a payout's fees and its transfer; the number alone for a contact (it carries
    ours). A field Xero does not show, or that we cannot compare, proves nothing: the document
    is then not adopted. ``None``: the document does not count at all (deleted, or a live one
    when this row only voids).
    """
    rule = _RULES.get(kind)
    if rule is None:
        return Verdict((KINDS[kind].natural_key or "key",), ())
    return rule(wanted, hit)


def _document(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """An invoice or credit note: a deleted one is not the one this row created; an update or
    void adopts only the document it voided (a live one under our number is an update still to
    send)."""
    status = hit.get("Status")
    if status == "DELETED" or not (wanted.create or status == "VOIDED"):
        return None
    return _compare(
        ("Contact", _same_contact(wanted, hit)),
        ("Total", _same_money(wanted.total, hit.get("Total"))),
        ("Date", _same_date(wanted.element.get("Date"), hit)),
    )


def _payment(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """A live payment of the same invoice, amount, date and reference: one host payment split
    over invoices is several Xero payments with one reference."""
    if hit.get("Status") == "DELETED":
        return None
    ours = (wanted.element.get("Invoice") or {}).get("InvoiceID")
    theirs = (hit.get("Invoice") or {}).get("InvoiceID")
    return _compare(
        ("Invoice", bool(ours and theirs) and str(ours).lower() == str(theirs).lower()),
        ("Amount", _same_money(wanted.element.get("Amount"), hit.get("Amount"))),
        ("Date", _same_date(wanted.element.get("Date"), hit)),
        ("Reference", hit.get("Reference") == wanted.key),
    )


def _overpayment(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """A live overpayment of the same contact, amount and date (found by its reference)."""
    if hit.get("Status") == "DELETED":
        return None
    lines = wanted.element.get("LineItems") or [{}]
    return _compare(
        ("Contact", _same_contact(wanted, hit)),
        ("Total", _same_money(lines[0].get("LineAmount"), hit.get("Total"))),
        ("Date", _same_date(wanted.element.get("Date"), hit)),
    )


def _deposit(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """A live prepayment of the same contact, amount and date (found by our reference, or by
    its line naming our deposit)."""
    if hit.get("Status") in _GONE:
        return None
    return _compare(
        ("Contact", _same_contact(wanted, hit)),
        ("Total", _same_money(_element_total(wanted.element), hit.get("Total"))),
        ("Date", _same_date(wanted.element.get("Date"), hit)),
    )


def _refund(source: str, id_field: str, payment_type: str) -> _Rule:
    """Money given back out of a credit (``CreditNote``, ``Overpayment`` or ``Prepayment``):
    a live payment out of the same credit, of the same amount, date and account, under our
    reference, of the payment type Xero gives such a refund."""

    def rule(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
        if hit.get("Status") == "DELETED":
            return None
        return _compare(
            (source, _same_ref(wanted.element, hit, source, id_field)),
            ("Amount", _same_money(wanted.element.get("Amount"), hit.get("Amount"))),
            ("Date", _same_date(wanted.element.get("Date"), hit)),
            ("Account", _same_account(wanted.element.get("Account"), hit.get("Account"))),
            ("Reference", hit.get("Reference") == wanted.key),
            ("PaymentType", hit.get("PaymentType") == payment_type),
        )

    return rule


def _payout_fee(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """A live spend of the same total and date out of the same (clearing) account under our
    reference: a payout's fees."""
    if hit.get("Status") in _GONE:
        return None
    ours = wanted.element
    return _compare(
        ("BankAccount", _same_account(ours.get("BankAccount"), hit.get("BankAccount"))),
        ("Total", _same_money(_element_total(ours), hit.get("Total"))),
        ("Date", _same_date(ours.get("Date"), hit)),
        ("Reference", hit.get("Reference") == wanted.key),
    )


def _payout(wanted: Wanted, hit: Mapping[str, Any]) -> Verdict | None:
    """A transfer of the same amount and date from the same (clearing) account to the same
    bank account under our reference: a payout."""
    if hit.get("Status") == "DELETED":
        return None
    ours = wanted.element
    return _compare(
        (
            "FromBankAccount",
            _same_account(ours.get("FromBankAccount"), hit.get("FromBankAccount")),
        ),
        ("ToBankAccount", _same_account(ours.get("ToBankAccount"), hit.get("ToBankAccount"))),
        ("Amount", _same_money(ours.get("Amount"), hit.get("Amount"))),
        ("Date", _same_date(ours.get("Date"), hit)),
        ("Reference", hit.get("Reference") == wanted.key),
    )


_Rule = Callable[[Wanted, Mapping[str, Any]], Verdict | None]

_GONE = ("DELETED", "VOIDED")
"""A bank transaction's statuses that say it is no longer in the books."""

_RULES: dict[str, _Rule] = {
    "invoice": _document,
    "credit_note": _document,
    "payment": _payment,
    "overpayment": _overpayment,
    "deposit": _deposit,
    "credit_note_refund": _refund("CreditNote", "CreditNoteID", "ARCREDITPAYMENT"),
    "overpayment_refund": _refund("Overpayment", "OverpaymentID", "AROVERPAYMENTPAYMENT"),
    "deposit_refund": _refund("Prepayment", "PrepaymentID", "ARPREPAYMENTPAYMENT"),
    "payout_fee": _payout_fee,
    "payout": _payout,
}
"""How each kind's document is judged ours (a contact is ours by the number it carries)."""


def _compare(*checks: tuple[str, bool]) -> Verdict:
    return Verdict(
        tuple(name for name, same in checks if same),
        tuple(name for name, same in checks if not same),
    )


def _same_contact(wanted: Wanted, hit: Mapping[str, Any]) -> bool:
    ours = str((wanted.element.get("Contact") or {}).get("ContactID") or "").lower()
    contact = hit.get("Contact") or {}
    theirs = str(contact.get("ContactID") or "").lower()
    if ours and theirs and ours == theirs:
        return True
    number = contact.get("ContactNumber")
    return bool(wanted.contact_number and number and number == wanted.contact_number)


def _same_ref(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], field_name: str, id_field: str
) -> bool:
    """Both name the same document under ``field_name`` (``{"CreditNote": {"CreditNoteID"…}}``)."""
    mine = str((ours.get(field_name) or {}).get(id_field) or "").lower()
    other = str((theirs.get(field_name) or {}).get(id_field) or "").lower()
    return bool(mine) and mine == other


def _same_account(ours: Any, theirs: Any) -> bool:
    """The same account of the chart: by ``AccountID`` when we sent one, else by ``Code`` (what
    our payloads name an account by; Xero shows both)."""
    if not isinstance(ours, Mapping) or not isinstance(theirs, Mapping):
        return False
    for key in ("AccountID", "Code"):
        mine = str(ours.get(key) or "").lower()
        if mine:
            return mine == str(theirs.get(key) or "").lower()
    return False


def _element_total(element: Mapping[str, Any]) -> Decimal | None:
    """What a tax-free bank transaction we send comes to: its lines' amounts (``LineAmount``,
    else ``Quantity`` × ``UnitAmount``) – our deposits and payout fees are ``NoTax``."""
    total = Decimal(0)
    lines = element.get("LineItems") or []
    try:
        for line in lines:
            amount = line.get("LineAmount")
            if amount is None:
                amount = Decimal(str(line.get("Quantity", 1))) * Decimal(str(line["UnitAmount"]))
            total += Decimal(str(amount))
    except (KeyError, TypeError, ArithmeticError):
        return None
    return total.quantize(_CENT) if lines else None


def _same_money(ours: Any, theirs: Any) -> bool:
    if ours is None or theirs is None:
        return False
    try:
        return Decimal(str(ours)).quantize(_CENT) == Decimal(str(theirs)).quantize(_CENT)
    except ArithmeticError:
        return False


def _same_date(ours: Any, hit: Mapping[str, Any]) -> bool:
    theirs = hit.get("DateString") or hit.get("Date")
    if not ours or not theirs:
        return False
    try:
        return parse_xero_date(str(theirs)) == parse_xero_date(str(ours))
    except ValueError:
        return False


def xero_date(hit: Mapping[str, Any]) -> str | None:
    """A Xero document's date as ``YYYY-MM-DD`` (``None`` when it shows none)."""
    theirs = hit.get("DateString") or hit.get("Date")
    try:
        return parse_xero_date(str(theirs)).isoformat() if theirs else None
    except ValueError:
        return None


def describe_clash(
    kind: str,
    key: str,
    theirs: Mapping[str, Any],
    *,
    our_customer: str | None,
    our_total: Any,
    our_date: Any,
) -> str:
    """Both sides of a clash, in words: ``invoice INV121 is already in Xero for Maya Lee
    (13.57, 2025-03-02); ours is for Rohan White (500.00, 2025-03-04)``."""
    noun = KINDS[kind].noun
    who = (theirs.get("Contact") or {}).get("Name") or "another contact"
    their_total = _money_text(theirs.get("Total"))
    their_date = xero_date(theirs) or "no date"
    ours = our_customer or "our customer"
    return (
        f"{noun} {key} is already in Xero for {who} ({their_total}, {their_date}); "
        f"ours is for {ours} ({_money_text(our_total)}, {our_date or 'no date'})"
    )


def _money_text(value: Any) -> str:
    try:
        return f"{Decimal(str(value)).quantize(_CENT)}"
    except ArithmeticError:
        return "no total"


_CENT = Decimal("0.01")


def _xero_id(kind: str, hit: Mapping[str, Any]) -> str | None:
    xero_id = hit.get(KINDS[kind].id_field)
    if not xero_id and kind == "overpayment":
        xero_id = hit.get("BankTransactionID")  # a RECEIVE-OVERPAYMENT's own id
    return str(xero_id) if xero_id else None


def _overpayment_by_line(
    client: Finders, tenant_id: str, connection_key: str, wanted: Wanted
) -> str | None:
    """The contact's overpayment whose line names this payment and whose amount matches:
    Xero may drop ``Reference`` on overpayments, never the line description."""
    element = wanted.element
    contact_id = element["Contact"]["ContactID"]
    description = element["LineItems"][0]["Description"]
    amount = Decimal(str(element["LineItems"][0]["LineAmount"]))
    for txn in client.find_overpayments_of_contact(tenant_id, connection_key, contact_id):
        lines = txn.get("LineItems") or []
        same_line = any(line.get("Description") == description for line in lines)
        total = txn.get("Total")
        if same_line and total is not None and Decimal(str(total)) == amount:
            return str(txn.get("OverpaymentID") or txn.get("BankTransactionID"))
    return None


def _deposit_by_line(
    client: Finders, tenant_id: str, connection_key: str, wanted: Wanted, found: Found
) -> None:
    """Our deposit among its contact's prepayments, by the line that names it (``DEP12
    deposit …``): Xero does not keep ``Reference`` on a prepayment. Adopted only when contact,
    amount and date agree too (:func:`judge`); for a row in doubt, the one of our contact
    naming our deposit is our older version (what differs is said)."""
    contact_id = (wanted.element.get("Contact") or {}).get("ContactID")
    if not contact_id:
        return
    named = [
        txn
        for txn in client.find_prepayments_of_contact(tenant_id, connection_key, str(contact_id))
        if any(
            _names_ours(line.get("Description"), wanted.key) for line in txn.get("LineItems") or []
        )
    ]
    outcome = decide("deposit", wanted, named)
    if isinstance(outcome, Match):
        found.ours[wanted.ref] = Match(
            outcome.xero_id, ("line description", *outcome.decided_by), outcome.differs
        )


def _names_ours(description: Any, key: str) -> bool:
    """A line description that starts with our number as a word (``DEP12 deposit``, not
    ``DEP123 deposit``)."""
    text = str(description or "")
    return text == key or text.startswith(f"{key} ")


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
