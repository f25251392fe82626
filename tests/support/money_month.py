"""A month of a pet resort's money, built from a seed, and what Xero must show for it.

:func:`plan_month` writes the month as staff would live it, day by day, as plain host records:
boarding, daycare and grooming paid by card through Stripe (into the card clearing account),
some in cash, some left owing; deposits taken a week or two before a stay and applied to its
invoice when the stay is invoiced (one refunded when its booking is cancelled, one kept as a
cancellation fee); a goodwill credit note given back as money; a credit note applied to an
invoice; gift vouchers sold and redeemed; and two Stripe payouts with their fees, each settling
the card payments taken before it. Totals follow the host's own rule
(:func:`hookspecs.refhost.money.document_total`) and the processor's fee is the host's
(:func:`hookspecs.refhost.money.card_fee`), so the plan is pure data that replays the same way.

What Xero must show for it is checked by :mod:`support.money_books`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hookspecs.refhost import RefHost
from hookspecs.refhost.money import card_fee, document_total

LOCATION = {
    "id": "bondi",
    "name": "Bondi Pet Resort",
    "timezone": "Australia/Sydney",
    "currency": "AUD",
    "country": "AU",
}
CLEARING, BANK, DEPOSITS, VOUCHERS, FEES = "093", "090", "094", "095", "406"
PAYMENT_CODES = {
    "cash": BANK,
    "card": BANK,
    "eftpos": BANK,
    "bank_transfer": BANK,
    "stripe": CLEARING,
    "voucher": VOUCHERS,
}
"""Card payments through Stripe land in the clearing account, a redeemed voucher draws on the
voucher liability, the rest goes straight to the bank."""
MONEY_CODES = {
    "deposits": DEPOSITS,
    "vouchers": VOUCHERS,
    "card_fees": FEES,
    "payout_bank": BANK,
}
DAYS = 28
"""The month's business days 1..27; the second payout on day 28 settles the last card payments."""
PAYOUT_DAYS = (14, DAYS)

_NAMES = (
    ("Jane", "Pawson"), ("Tom", "Whiskers"), ("Ana", "Barker"), ("Raj", "Kennelly"),
    ("Mei", "Furness"), ("Luke", "Bonham"), ("Sofia", "Tailor"), ("Omar", "Pounds"),
    ("Grace", "Collier"), ("Ivan", "Spaniel"), ("Zoe", "Beagley"), ("Ken", "Hound"),
    ("Lily", "Pawley"), ("Sam", "Setter"), ("Nia", "Terrier"),
)  # fmt: skip


def _line(description: str, category: str, price: str, quantity: int = 1, tax: str = "10") -> Any:
    return {
        "description": description,
        "category": category,
        "quantity": str(quantity),
        "unit_price": price,
        "tax_rate": tax,
    }


@dataclass(frozen=True)
class Step:
    """One thing staff do on one day of the month: ``action`` is the host method it calls."""

    day: int
    action: str
    """``create_invoice``, ``record_payment``, ``record_deposit``, ``create_credit_note``,
    ``record_refund`` or ``record_payout``."""
    record: dict[str, Any]


@dataclass
class Month:
    """The month's customers (saved before the add-on is set up) and its steps, in order."""

    first: date
    clients: list[dict[str, Any]]
    steps: list[Step] = field(default_factory=list)

    def date_of(self, day: int) -> str:
        """The ISO date of business day ``day`` (1 = the first of the month)."""
        return (self.first + timedelta(days=day - 1)).isoformat()

    def count(self, action: str) -> int:
        """How many steps call ``action`` (a record told again is counted again)."""
        return sum(1 for s in self.steps if s.action == action)


class _Builder:
    """Writes the month's steps; keeps the card payments not paid out yet."""

    def __init__(self, seed: int, first: date) -> None:
        self.rng = random.Random(seed)
        self.month = Month(first, [])
        self.ids: Counter[str] = Counter()
        self.unsettled_card: list[tuple[int, str, Decimal]] = []
        self.vouchers_left = Decimal(0)
        self.unpaid: list[tuple[str, str, Decimal]] = []
        """Invoices left owing in full: (invoice id, client id, total)."""
        self.goodwill: dict[str, Any] | None = None
        """The credit note not applied to an invoice, given back as money."""

    def new_id(self, kind: str) -> str:
        self.ids[kind] += 1
        return f"{kind}-{self.ids[kind]:02d}"

    def step(self, day: int, action: str, record: dict[str, Any]) -> dict[str, Any]:
        self.month.steps.append(Step(day, action, record))
        return record

    def client(self) -> str:
        return str(self.rng.choice(self.month.clients)["id"])

    def invoice(self, day: int, client: str, lines: list[dict[str, Any]]) -> tuple[str, Decimal]:
        invoice_id = self.new_id("inv")
        on = self.month.date_of(day)
        self.step(
            day,
            "create_invoice",
            {
                "id": invoice_id,
                "location_id": LOCATION["id"],
                "client_id": client,
                "date": on,
                "due_date": on,
                "line_amount_types": "inclusive",
                "lines": lines,
                "reference": f"Booking {invoice_id}",
            },
        )
        return invoice_id, Decimal(document_total(lines, "inclusive"))

    def pay(self, day: int, client: str, method: str, invoice_id: str, amount: Decimal) -> None:
        payment_id = self.new_id("pay")
        self.step(
            day,
            "record_payment",
            {
                "id": payment_id,
                "location_id": LOCATION["id"],
                "client_id": client,
                "paid_date": self.month.date_of(day),
                "amount": f"{amount:.2f}",
                "method": method,
                "allocations": [{"invoice_id": invoice_id, "amount": f"{amount:.2f}"}],
            },
        )
        if method == "stripe":
            self.unsettled_card.append((day, payment_id, amount))

    def visit(self, day: int) -> None:
        """A stay, a day of daycare, a groom or a bag of food; paid mostly by card."""
        client = self.client()
        kind = self.rng.choice(("boarding", "boarding", "daycare", "grooming", "retail"))
        lines = {
            "boarding": [
                _line("Boarding – standard kennel", "boarding", "65.00", self.rng.randint(1, 4))
            ],
            "daycare": [_line("Daycare – full day", "daycare", "48.00")],
            "grooming": [_line("Full groom", "grooming", "85.00")],
            "retail": [_line("Premium kibble 3 kg", "retail", "34.95", self.rng.randint(1, 2))],
        }[kind]
        invoice_id, total = self.invoice(day, client, lines)
        draw = self.rng.random()
        if draw < 0.65:
            self.pay(day, client, "stripe", invoice_id, total)
        elif draw < 0.8:
            self.pay(day, client, "cash", invoice_id, total)
        elif draw < 0.9:
            self.pay(day, client, "stripe", invoice_id, (total / 2).quantize(Decimal("0.01")))
        else:
            self.unpaid.append((invoice_id, client, total))

    def voucher_sale(self, day: int, value: str) -> None:
        client = self.client()
        lines = [_line(f"Gift voucher ${value}", "voucher", value, tax="0")]
        if self.rng.random() < 0.5:
            lines.append(_line("Dental chew pack", "retail", "12.50"))
        invoice_id, total = self.invoice(day, client, lines)
        self.pay(day, client, self.rng.choice(("stripe", "cash")), invoice_id, total)
        self.vouchers_left += Decimal(value)

    def voucher_redemption(self, day: int) -> None:
        client = self.client()
        invoice_id, total = self.invoice(day, client, [_line("Full groom", "grooming", "85.00")])
        used = min(total, self.vouchers_left, Decimal(self.rng.choice(("30.00", "50.00"))))
        self.vouchers_left -= used
        self.pay(day, client, "voucher", invoice_id, used)
        self.pay(day, client, "stripe", invoice_id, total - used)

    def payout(self, day: int) -> None:
        settled = [p for p in self.unsettled_card if p[0] < day]
        self.unsettled_card = [p for p in self.unsettled_card if p[0] >= day]
        gross = sum((p[2] for p in settled), Decimal(0))
        fees = sum((card_fee(p[2]) for p in settled), Decimal(0))
        payout_id = self.new_id("po")
        self.step(
            day,
            "record_payout",
            {
                "id": payout_id,
                "location_id": LOCATION["id"],
                "method": "stripe",
                "paid_date": self.month.date_of(day),
                "gross": f"{gross:.2f}",
                "fees": f"{fees:.2f}",
                "amount": f"{gross - fees:.2f}",
                "payment_ids": [p[1] for p in settled],
                "processor_reference": f"po_1N{payout_id}",
            },
        )


def _deposit_plans(b: _Builder) -> dict[int, list[tuple[str, Any]]]:
    """Deposits taken on days 1-8 for stays 7-16 days later: what happens on which day."""
    todo: dict[int, list[tuple[str, Any]]] = {}
    fates = ["stay", "stay", "stay", "stay", "refunded", "forfeited"]
    b.rng.shuffle(fates)
    for n, fate in enumerate(fates):
        taken = 1 + n + b.rng.randint(0, 2)
        stay = min(taken + b.rng.randint(7, 16), DAYS - 1)
        amount = Decimal(b.rng.choice(("100.00", "150.00", "200.00")))
        deposit: dict[str, Any] = {
            "id": b.new_id("dep"),
            "location_id": LOCATION["id"],
            "client_id": b.client(),
            "paid_date": b.month.date_of(taken),
            "amount": f"{amount:.2f}",
            "method": b.rng.choice(("bank_transfer", "card")),
            "allocations": [],
            "reference": f"Stay from day {stay}",
        }
        todo.setdefault(taken, []).append(("taken", deposit))
        later = stay if fate != "refunded" else max(taken + 1, stay - 3)
        todo.setdefault(later, []).append((fate, deposit))
    return todo


def _deposit_step(b: _Builder, day: int, fate: str, deposit: dict[str, Any]) -> None:
    client, amount = deposit["client_id"], Decimal(deposit["amount"])
    if fate == "taken":
        b.step(day, "record_deposit", dict(deposit))
        return
    if fate == "refunded":  # the booking cancelled: the deposit given back in full
        b.step(
            day,
            "record_refund",
            {
                "id": b.new_id("rf"),
                "location_id": LOCATION["id"],
                "client_id": client,
                "paid_date": b.month.date_of(day),
                "amount": deposit["amount"],
                "method": "bank_transfer",
                "deposit_id": deposit["id"],
                "reason": "Booking cancelled",
            },
        )
        return
    if fate == "forfeited":  # cancelled late: kept as the cancellation fee
        lines = [_line("Cancellation fee", "extras", deposit["amount"])]
    else:  # the stay invoiced: the deposit applied, the rest paid by card at checkout
        lines = [_line("Boarding – deluxe suite", "boarding", "85.00", b.rng.randint(3, 6))]
    invoice_id, total = b.invoice(day, client, lines)
    applied = min(amount, total)
    allocation = [{"invoice_id": invoice_id, "amount": f"{applied:.2f}"}]
    b.step(day, "record_deposit", {"id": deposit["id"], "allocations": allocation})
    if total > applied:
        b.pay(day, client, "stripe", invoice_id, total - applied)


def _credit_notes(b: _Builder, day: int) -> None:
    """Day 10: a goodwill credit note, given back as money on day 11. Day 15: a credit note
    applied to an invoice left owing."""
    if day == 10:
        b.goodwill = _credit_note(b, day, b.client(), "40.00", None)
        b.step(day, "create_credit_note", b.goodwill)
    elif day == 11 and b.goodwill is not None:
        b.step(
            day,
            "record_refund",
            {
                "id": b.new_id("rf"),
                "location_id": LOCATION["id"],
                "client_id": b.goodwill["client_id"],
                "paid_date": b.month.date_of(day),
                "amount": "40.00",
                "method": "bank_transfer",
                "credit_note_id": b.goodwill["id"],
                "reason": "Goodwill refund: stay cut short",
            },
        )
    elif day == 15 and b.unpaid:
        invoice_id, client, total = b.unpaid[0]
        amount = f"{min(total, Decimal('30.00')):.2f}"
        b.step(day, "create_credit_note", _credit_note(b, day, client, amount, invoice_id))


def _credit_note(
    b: _Builder, day: int, client: str, amount: str, invoice_id: str | None
) -> dict[str, Any]:
    return {
        "id": b.new_id("cn"),
        "location_id": LOCATION["id"],
        "client_id": client,
        "date": b.month.date_of(day),
        "line_amount_types": "inclusive",
        "lines": [_line("Credit – stay cut short", "boarding", amount)],
        "invoice_id": invoice_id,
        "reason": "Goodwill",
    }


def plan_month(seed: int, first: date, clients: int = len(_NAMES)) -> Month:
    """The month starting ``first``, the same for the same seed (see the module docstring)."""
    b = _Builder(seed, first)
    for n, (given, family) in enumerate(_NAMES[:clients], start=1):
        b.month.clients.append(
            {
                "id": f"cl-{n:02d}",
                "location_id": LOCATION["id"],
                "first_name": given,
                "last_name": family,
                "email": f"{given.lower()}.{family.lower()}@example.com",
            }
        )
    deposits = _deposit_plans(b)
    voucher_sales = {3: "100.00", 9: "50.00", 17: "100.00"}
    redemptions = {12, 20, 25}
    for day in range(1, DAYS):
        for fate, deposit in deposits.get(day, []):
            _deposit_step(b, day, fate, deposit)
        b.visit(day)
        if day in voucher_sales:
            b.voucher_sale(day, voucher_sales[day])
        if day in redemptions:
            b.voucher_redemption(day)
        _credit_notes(b, day)
        if day in PAYOUT_DAYS:
            b.payout(day)
    b.payout(DAYS)
    assert not b.unsettled_card, "every card payment is in a payout: the clearing account empties"
    return b.month


def replay(host: RefHost, steps: Iterable[Step]) -> None:
    """Record ``steps`` through the host, as staff would (each calls the add-on's hooks)."""
    for step in steps:
        getattr(host, step.action)(dict(step.record))
