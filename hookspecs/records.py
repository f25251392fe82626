"""The records the host passes to plugins, defined once.

Every record is a plain JSON-compatible mapping (the host serialises its own models to these
shapes), so a plugin can store exactly what it received and a malformed record can be kept with
the reason it was refused. Plugins must validate what they receive: the host promises these
shapes, but a plugin that trusts them blindly turns one bad row into a crash.

Conventions shared by every record:

* ``id`` is the host's stable primary key (a string). It never changes and is never reused.
* ``number`` is the human-facing number the business sees (invoice 121, customer 42). Plugins that
  send numbers elsewhere add their own prefix.
* Money is a decimal string with two places (``"12.50"``), never a float: floats lose cents.
* Quantities are decimal strings too (``"1.5"`` nights of daycare is legitimate).
* Dates (``date``, ``due_date``, ``paid_date``) are the **location's local business dates**,
  ISO ``YYYY-MM-DD``. A booking invoiced at 23:30 in Sydney is dated that Sydney day.
* ``updated_at`` is an ISO-8601 timestamp with offset: when the host last changed the record.
* ``location_id`` is the location that owns the record; every document belongs to exactly one.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = [
    "Address",
    "Allocation",
    "Client",
    "CreditNote",
    "Deposit",
    "Invoice",
    "InvoiceStatus",
    "LineAmountTypes",
    "LineItem",
    "Location",
    "Payment",
    "PaymentMethod",
    "Payout",
    "Refund",
    "RevenueCategory",
]

RevenueCategory = Literal[
    "boarding",
    "daycare",
    "grooming",
    "training",
    "retail",
    "extras",
    "voucher",
    "adjustment",
]
"""What a line earns for: the admin maps each category to a revenue account code."""

PaymentMethod = Literal["cash", "card", "eftpos", "bank_transfer", "stripe", "voucher"]
"""How money was received: the admin maps each method to a bank or clearing account."""

LineAmountTypes = Literal["exclusive", "inclusive", "no_tax"]
"""Whether line prices exclude tax, include it, or carry none."""

InvoiceStatus = Literal["open", "paid", "voided"]
"""The host's view of an invoice. ``paid`` is informational; payments arrive separately."""


class Location(TypedDict):
    """One site of the business: a kennel, a daycare centre, a grooming salon."""

    id: str
    name: str
    timezone: str
    """IANA zone name (``Australia/Sydney``): the zone the location's business dates are in."""
    currency: str
    """ISO 4217 code the location invoices in (``AUD``)."""
    country: str
    """ISO 3166-1 alpha-2 (``AU``)."""


class Address(TypedDict, total=False):
    """A postal address; every part is optional, as customers give what they give."""

    line1: str
    line2: str
    city: str
    region: str
    postcode: str
    country: str


class Client(TypedDict):
    """A customer: a pet owner. Created at one location, possibly seen at others later."""

    id: str
    number: int
    """The customer number shown to staff; plugins prefix it (``C42``)."""
    location_id: str
    """The location the customer was created at (their home location)."""
    first_name: str
    last_name: str
    email: NotRequired[str | None]
    phone: NotRequired[str | None]
    address: NotRequired[Address | None]
    customer_type: NotRequired[str | None]
    """The host's customer type (``vip``, ``staff``, ``standard``), mappable to income accounts."""
    updated_at: str


class LineItem(TypedDict):
    """One line of an invoice or credit note."""

    description: str
    category: RevenueCategory
    quantity: str
    unit_price: str
    """Price per unit in the document's currency, excluding or including tax per the document."""
    discount_rate: NotRequired[str | None]
    """Percentage discount on the line (``"10"`` = 10 %), or absent."""
    tax_rate: NotRequired[str | None]
    """Tax percentage applied to the line (``"10"`` for GST); ``"0"`` or absent for tax-free."""
    area_type: NotRequired[str | None]
    """Optional finer category (the kennel block, ``"Luxury suites"``), mappable to tracking."""


class Invoice(TypedDict):
    """A bill to a customer: a boarding stay, a day of daycare, a groom, retail, extras."""

    id: str
    number: int
    """The invoice number staff see; plugins prefix it (``INV121``)."""
    location_id: str
    client_id: str
    date: str
    """The invoice date: the location's local business date. Decides the sync window."""
    due_date: str
    currency: str
    line_amount_types: LineAmountTypes
    status: InvoiceStatus
    lines: list[LineItem]
    total: str
    """The host's own total, including tax: plugins compare it to what they compute."""
    reference: NotRequired[str | None]
    """Free text shown on the invoice (a booking reference, the pets' names)."""
    updated_at: str


class CreditNote(TypedDict):
    """Money given back to a customer, optionally against one invoice."""

    id: str
    number: int
    location_id: str
    client_id: str
    date: str
    """The credit note's date; decides the sync window like an invoice date."""
    currency: str
    line_amount_types: LineAmountTypes
    lines: list[LineItem]
    total: str
    invoice_id: NotRequired[str | None]
    """The invoice this credit is applied to, if any; the plugin allocates it there."""
    reason: NotRequired[str | None]
    updated_at: str


class Allocation(TypedDict):
    """The part of a payment applied to one invoice."""

    invoice_id: str
    amount: str


class Payment(TypedDict):
    """Money received from a customer.

    ``amount`` is what was received; ``allocations`` say which invoices it paid. Whatever is left
    (``amount`` minus the allocations) is an **overpayment**: credit the customer holds.
    """

    id: str
    number: int
    """The receipt number staff see; plugins use it as the payment's reference."""
    location_id: str
    client_id: str
    paid_date: str
    """The date the money was received: the location's local business date. Decides the window."""
    amount: str
    currency: str
    method: PaymentMethod
    allocations: list[Allocation]
    updated_at: str


class Payout(TypedDict):
    """A card processor paying out (Stripe and others): the card payments it collected, less its
    fees, paid into the business's bank.

    Card payments are received into a *clearing account* (the account the payments' ``method``
    is mapped to). A payout moves ``amount`` from the clearing account to the bank and books
    ``fees`` as an expense, so the clearing account returns to zero and the bank deposit in the
    books equals the statement line. ``gross`` = the payments it settles minus the card refunds
    netted off; ``amount`` = ``gross`` - ``fees``.
    """

    id: str
    number: int
    """The payout's number in the host; plugins use it as the reference (``PO7``)."""
    location_id: str
    method: PaymentMethod
    """How its payments were received (``stripe``): the mapped account is the clearing account."""
    paid_date: str
    """The date the payout reached the bank: the location's local business date."""
    currency: str
    gross: str
    """The card payments it settles, minus the card refunds netted off."""
    fees: str
    """The processor's fees deducted from this payout (``"0.00"`` when none)."""
    amount: str
    """What reached the bank: ``gross`` minus ``fees``."""
    payment_ids: list[str]
    """The host payments (:class:`Payment` ids) this payout settles."""
    refund_ids: NotRequired[list[str]]
    """Card refunds (:class:`Refund` ids) the processor netted off this payout."""
    processor_reference: NotRequired[str | None]
    """The processor's own id of the payout (``po_1Nx…``), shown beside ours in Xero."""
    updated_at: str


class Deposit(TypedDict):
    """Money taken before the invoice exists: a booking's deposit, weeks before the stay.

    Until it is applied the customer holds it as credit (a *prepayment*). When the stay is
    invoiced the host records the deposit again with ``allocations`` naming the invoice(s) it
    pays. A deposit kept as a cancellation fee is applied the same way, to the cancellation-fee
    invoice; a deposit given back is a :class:`Refund` with ``deposit_id``.
    """

    id: str
    number: int
    """The deposit's receipt number; plugins use it as the reference (``DEP12``)."""
    location_id: str
    client_id: str
    paid_date: str
    """The date the deposit was received: the location's local business date."""
    amount: str
    currency: str
    method: PaymentMethod
    """How it was paid: the mapped account is where the money went."""
    allocations: list[Allocation]
    """The invoices it has been applied to (empty while it is held)."""
    reference: NotRequired[str | None]
    """The booking it secures (shown in Xero)."""
    updated_at: str


class Refund(TypedDict):
    """Money given back to a customer out of one credit: a credit note, the excess of a payment
    (an overpayment), or a deposit. Exactly one of ``credit_note_id``, ``payment_id`` and
    ``deposit_id`` is set."""

    id: str
    number: int
    """The refund's number; plugins use it as the reference (``RF3``)."""
    location_id: str
    client_id: str
    paid_date: str
    """The date the money left: the location's local business date."""
    amount: str
    currency: str
    method: PaymentMethod
    """How it was paid back: the mapped account is where the money left from."""
    credit_note_id: NotRequired[str | None]
    """A refund of this credit note's credit."""
    payment_id: NotRequired[str | None]
    """A refund of this payment's excess (its overpayment)."""
    deposit_id: NotRequired[str | None]
    """A refund of this deposit (all or part of what is left of it)."""
    reason: NotRequired[str | None]
    updated_at: str
