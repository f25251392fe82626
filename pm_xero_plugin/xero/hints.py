"""Turn Xero's own messages into what an admin should do next.

The dashboard shows Xero's message verbatim (it is what Xero support will ask for) *and* a fix
hint, because "Account code '205' is not a valid code for this document." does not tell a
bookkeeper where to click. Matching is on stable fragments of Xero's messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Diagnosis", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """What a Xero message means for the record that caused it."""

    hint: str
    transient: bool = False
    """Retrying later may succeed without anyone changing anything."""
    gate: str | None = None
    """When set, the record should wait behind this gate instead of failing (e.g. a lock date)."""
    duplicate_number: bool = False
    """Xero already has a document with this number: link to it rather than create another."""


_LOCK_DATE = re.compile(
    r"(?P<lock>period|end of year) lock date, currently set at (?P<date>[0-9A-Za-z-]+)", re.I
)
"""Xero's two lock messages: "… before the period lock date, currently set at 30-Nov-2018"
(stops all users except advisers) and "… before the end of year lock date, currently set at
31-Jul-2013" (stops all users)."""

_TRANSFER_ACCOUNTS = (
    r"(from|to) ?bank ?account|bank transfer|accounts? (must|cannot) be (different|the same)"
)
"""Xero's refusals of a transfer's accounts: a ``FromBankAccount`` or ``ToBankAccount`` that is
not a bank account or payments-enabled account, the same account on both sides (for a payout's
fees, an account that takes no payments: :func:`_for_kind`)."""

_PAYOUT_ACCOUNTS = Diagnosis(
    "Xero refused the accounts of this payout: the card method's clearing account (account "
    "codes → payments) must be a bank account, or a current asset with 'Enable payments to this "
    "account' ticked in Xero, and payout_bank a bank account – two different accounts. Fix the "
    "mapping under Xero settings → Account codes (or the account in Xero), then retry."
)

_ALLOCATION_EXCEEDS = Diagnosis(
    "Xero shows less left to apply than this allocation: the credit (a credit note, an "
    "overpayment or a deposit) was probably applied or refunded by hand in Xero, or the invoice "
    "already paid. Remove the duplicate in Xero, then retry, or resolve this one if Xero is "
    "already right."
)

_RULES: list[tuple[re.Pattern[str], Diagnosis]] = [
    # Order matters: the first match wins. Xero's number clash ("The contact number C42 is
    # already assigned to another contact …") and its name clash ("The contact name … is already
    # assigned to another contact …") share their ending; the number is the add-on's own dedupe
    # key for a contact, so a clash on it means Xero already has this customer: link to it.
    (
        re.compile(r"contact number .* already assigned to another contact", re.I),
        Diagnosis(
            "Xero already has a contact with this contact number. It is linked, not duplicated; "
            "if that contact is someone else, change its number in Xero (or the contact-number "
            "prefix under Xero settings), then retry.",
            duplicate_number=True,
        ),
    ),
    (
        re.compile(r"already assigned to another contact", re.I),
        Diagnosis(
            "Another Xero contact already has this name. Rename or archive it in Xero (or merge "
            "the two), then retry."
        ),
    ),
    (
        re.compile(r"must be unique", re.I),
        Diagnosis(
            "Xero already has a document with this number. It is linked, not duplicated; if it "
            "is a different document, renumber one of them in Xero and retry.",
            duplicate_number=True,
        ),
    ),
    (
        re.compile(r"is not a valid code|account code .* (archived|does not exist)", re.I),
        Diagnosis(
            "The mapped account code is missing or archived in Xero. Fix the mapping under "
            "Xero settings → Account codes (or restore the account in Xero), then retry."
        ),
    ),
    (
        re.compile(r"tax ?type .* (not valid|cannot be used|invalid)", re.I),
        Diagnosis(
            "The tax type is not valid for this account in Xero. Map this tax rate to another "
            "tax type under Xero settings → Account codes, then retry."
        ),
    ),
    (
        re.compile(r"only be made against Authorised documents", re.I),
        Diagnosis(
            "The invoice in Xero is not authorised (voided or still a draft). Authorise it in "
            "Xero, or void this payment in Pet Manager, then retry."
        ),
    ),
    (re.compile(r"amount being allocated exceeds", re.I), _ALLOCATION_EXCEEDS),
    (
        re.compile(_TRANSFER_ACCOUNTS, re.I),
        _PAYOUT_ACCOUNTS,
    ),
    (
        re.compile(r"exceeds the amount outstanding", re.I),
        Diagnosis(
            "Xero shows less owing on the invoice than this payment: a payment was probably "
            "entered by hand in Xero. Remove the duplicate payment in Xero, then retry, or "
            "resolve this one if Xero is already right."
        ),
    ),
    (
        re.compile(r"has been archived", re.I),
        Diagnosis("The contact is archived in Xero. Restore it in Xero, then retry."),
    ),
    (
        re.compile(r"cannot be edited as it has a payment or credit note allocated", re.I),
        Diagnosis(
            "Xero does not allow editing an invoice that has payments or credits. Remove the "
            "payment in Xero and retry, or record the change in Pet Manager as a credit note; "
            "then resolve this one."
        ),
    ),
]


_CREDIT_OF = {
    "credit_note_refund": "credit note",
    "overpayment_refund": "overpayment",
    "deposit_refund": "deposit",
}
"""What each refund kind gives money back out of."""

_EXCEEDS = re.compile(r"exceeds the (amount outstanding|remaining credit|credit)", re.I)


def _for_kind(kind: str | None, message: str) -> Diagnosis | None:
    """Where the same words of Xero's mean something else for this kind of record: a refund
    that "exceeds the amount outstanding" exceeds the credit left, not an invoice's balance;
    a payout's fees refused on their bank account are the clearing account's mapping."""
    if kind in _CREDIT_OF and _EXCEEDS.search(message):
        credit = _CREDIT_OF[kind]
        return Diagnosis(
            f"Xero shows less credit left on the {credit} than this refund: it was probably "
            f"refunded, or applied to an invoice, by hand in Xero already. Remove the duplicate "
            f"in Xero, then retry, or resolve this one if Xero is already right."
        )
    if kind in ("allocation", "deposit_allocation") and _EXCEEDS.search(message):
        return _ALLOCATION_EXCEEDS
    if kind in ("payout", "payout_fee") and re.search(
        r"valid BankAccount|bank ?account|payments", message, re.I
    ):
        return _PAYOUT_ACCOUNTS
    return None


def diagnose(message: str, kind: str | None = None) -> Diagnosis:
    """A fix hint (and how to treat the record) for one of Xero's validation messages;
    ``kind`` (the ledger kind of the record, when known) picks the meaning Xero's words have
    for it (:func:`_for_kind`)."""
    lock = _LOCK_DATE.search(message)
    if lock:
        if lock["lock"].lower() == "period":
            who = f"Xero's period lock date ({lock['date']}), which stops all users except advisers"
        else:
            who = (
                f"Xero's end-of-year lock date ({lock['date']}), which stops all users, "
                "advisers included"
            )
        return Diagnosis(
            f"The document is dated on or before {who}. It waits (nothing is lost): move the "
            "lock date before the document's date in Xero (Settings → Advanced → Financial "
            "settings → Lock dates), then retry, and it is sent.",
            gate="lock_date",
        )
    by_kind = _for_kind(kind, message)
    if by_kind is not None:
        return by_kind
    for pattern, diagnosis in _RULES:
        if pattern.search(message):
            return diagnosis
    return Diagnosis(
        "Xero refused this record. Read Xero's message, fix the record in Pet Manager or the "
        "mapping in the Xero settings, then retry."
    )
