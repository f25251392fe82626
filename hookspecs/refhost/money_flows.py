"""The money a pet resort moves besides invoices and payments: card payouts and their fees,
booking deposits, refunds and gift vouchers – for the practice generator.

What a practice with them looks like (the same rules in the history, :class:`HistoryFlows`, and on
a live day, :func:`live_money_flows`):

* **Card payouts.** Payments by ``stripe`` wait in the processor; each Tuesday and Friday it pays
  out every one received up to two business days before (so a payout reaches the bank at least
  two business days after its last payment), less its fee per payment
  (:func:`~hookspecs.refhost.money.card_fee`: 1.75 % + 0.30) and less the card refunds made
  meanwhile: ``gross`` = payments − refunds, ``amount`` = ``gross`` − ``fees``.
* **Deposits.** About one boarding stay in four was booked 1–4 weeks ahead with a deposit
  (card, EFTPOS or bank transfer – never ``stripe``: a payout names card *payments* only). When the
  stay is invoiced the deposit is applied to it (the deposit recorded again with its allocation).
  Now and then a booking is cancelled: the deposit is refunded (a :class:`Refund` with
  ``deposit_id``) or kept as the cancellation fee (an invoice for the fee, the deposit applied).
* **Refunds.** A night cancelled after a stay was paid by card: a credit note against no invoice
  and its refund on the card (``stripe``: the only card refunds, netted off the next payout).
  A goodwill credit paid back by bank transfer. The excess of an overpayment handed back.
* **Gift vouchers.** Sold on an invoice line of category ``voucher`` (no GST: it is charged when
  the voucher is spent), redeemed later as a payment by method ``voucher`` – never more, at a
  site, than was sold there before.

Every draw comes from a stream of its own (never the history's), so a practice generated with
the flows keeps every other record's content; only the business-wide numbers after the first new
record move up.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol

from hookspecs.refhost.catalogue import AREAS
from hookspecs.refhost.draws import Record, item_line, pick, random_uuid, stamp
from hookspecs.refhost.money import card_fee, document_total, money
from hookspecs.refhost.store import Kind

if TYPE_CHECKING:
    from hookspecs.refhost.host import RefHost

__all__ = [
    "PAYOUT_WEEKDAYS",
    "HistoryFlows",
    "business_days_before",
    "live_money_flows",
    "payout_of",
]

PAYOUT_WEEKDAYS: Final = frozenset({1, 4})
"""The days the card processor pays out (Tuesday, Friday)."""
SETTLEMENT_DAYS: Final = 2
"""Business days between a card payment and the payout that settles it, at the least."""
DEPOSIT_METHODS: Final = (("card", 0.45), ("eftpos", 0.35), ("bank_transfer", 0.2))
VOUCHER_METHODS: Final = (("card", 0.4), ("eftpos", 0.3), ("stripe", 0.2), ("cash", 0.1))
VOUCHERS: Final = (("50.00", 0.4), ("100.00", 0.4), ("150.00", 0.1), ("200.00", 0.1))
DEPOSITS: Final = (50, 100, 150, 200)


def business_days_before(day: date, n: int) -> date:
    """The date ``n`` business days (Monday–Friday) before ``day``."""
    while n > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def payout_of(
    rng: random.Random,
    location_id: str,
    currency: str,
    day: date,
    tz: str,
    payments: Sequence[Record],
    refunds: Sequence[Record],
) -> Record | None:
    """The payout reaching the bank on ``day`` for these card payments and refunds, or ``None``
    when there is nothing to pay out (no payment, or refunds and fees eat it all)."""
    if not payments:
        return None
    gross = sum((Decimal(p["amount"]) for p in payments), Decimal(0)) - sum(
        (Decimal(r["amount"]) for r in refunds), Decimal(0)
    )
    fees = sum((card_fee(Decimal(p["amount"])) for p in payments), Decimal(0))
    if gross - fees <= 0:
        return None
    return {
        "id": random_uuid(rng),
        "location_id": location_id,
        "method": "stripe",
        "paid_date": day.isoformat(),
        "currency": currency,
        "gross": money(gross),
        "fees": money(fees),
        "amount": money(gross - fees),
        "payment_ids": [p["id"] for p in payments],
        "refund_ids": [r["id"] for r in refunds],
        "processor_reference": f"po_{rng.getrandbits(96):024x}",
        "updated_at": stamp(day, tz, rng),
    }


def _voucher_line(amount: str) -> Record:
    return {
        "description": "Gift voucher",
        "category": "voucher",
        "quantity": "1",
        "unit_price": amount,
        "tax_rate": "0",
    }


def _fee_line(amount: Decimal, stay: str) -> Record:
    return {
        "description": f"Cancellation fee – booking of {stay} (deposit kept)",
        "category": "boarding",
        "quantity": "1",
        "unit_price": money(amount),
        "tax_rate": "10",
    }


def _night_credit(
    invoice: Record, boarding: Record, day: date, rng: random.Random, tz: str
) -> Record:
    """A cancelled night of a stay already paid: credit against no invoice (there is nothing
    left to apply it to), to be refunded."""
    line = {**boarding, "quantity": "1"}
    line["description"] = f"Refund – cancelled night: {boarding['description']}"
    lat = invoice["line_amount_types"]
    return {
        "id": random_uuid(rng),
        "location_id": invoice["location_id"],
        "client_id": invoice["client_id"],
        "date": day.isoformat(),
        "currency": invoice["currency"],
        "line_amount_types": lat,
        "lines": [line],
        "total": document_total([line], lat),
        "invoice_id": None,
        "reason": "Cancelled night after payment",
        "updated_at": stamp(day, tz, rng),
    }


def _refund(
    rng: random.Random,
    credit: Record,
    source: str,
    amount: Decimal,
    day: date,
    tz: str,
    method: str,
    reason: str,
) -> Record:
    """A refund out of ``credit`` (a credit note, payment or deposit: ``source`` names which)."""
    return {
        "id": random_uuid(rng),
        "location_id": credit["location_id"],
        "client_id": credit["client_id"],
        "paid_date": day.isoformat(),
        "amount": money(amount),
        "currency": credit["currency"],
        "method": method,
        f"{source}_id": credit["id"],
        "reason": reason,
        "updated_at": stamp(day, tz, rng),
    }


_REFUND_KINDS: Final = {
    "credit_note": "credit_note_refunds",
    "payment": "overpayment_refunds",
    "deposit": "deposit_refunds",
}
"""The summary's count of each kind of refund, by the credit it comes out of."""


def _source(refund: Record) -> str:
    """Which credit a refund comes out of: ``credit_note``, ``payment`` or ``deposit``."""
    return next(k for k in ("credit_note", "payment", "deposit") if refund.get(f"{k}_id"))


def _excess(payment: Record) -> Decimal:
    allocated = sum((Decimal(a["amount"]) for a in payment["allocations"]), Decimal(0))
    return Decimal(payment["amount"]) - allocated


# -- the history ----------------------------------------------------------------------------------


class Counts(Protocol):
    """Where the flows count what they made (:class:`hookspecs.refhost.PracticeSummary`)."""

    def add(self, kind: str, location_id: str, n: int = 1) -> None:
        """Count ``n`` more of ``kind`` at ``location_id``."""


class _Customer(Protocol):
    record: Record
    joined: date
    pets: list[str]


class _Book(Protocol):
    """What the history offers its flows (:class:`hookspecs.refhost.generator._History`)."""

    start: date
    end: date
    currency: dict[str, str]
    numbers: dict[str, int]
    events: list[tuple[str, Record]]

    @property
    def summary(self) -> Counts: ...
    def tz(self, location_id: str) -> str: ...
    def emit(self, op: str, record: Record) -> None: ...
    def schedule(self, day: date, op: str, record: Record) -> None: ...


@dataclass
class HistoryFlows:
    """The money flows of a generated history, drawn from their own stream ``rng``.

    The history calls it at four points: :meth:`before_payment` (a stay's deposit applied, a
    voucher handed over), :meth:`after_card_payment` (a night cancelled after a card payment),
    :meth:`emitted` (every record as it is made: card payments wait for a payout, an overpayment
    may be handed back) and :meth:`day` (the day's voucher sales, cancelled bookings and payouts);
    then :meth:`merged` puts the deposits, taken on days already past, into the events.
    """

    rng: random.Random
    card_payments: dict[str, list[Record]] = field(default_factory=dict)
    """Card payments (by location) not paid out yet."""
    card_refunds: dict[str, list[Record]] = field(default_factory=dict)
    """Card refunds (by location) not netted off a payout yet."""
    vouchers: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    """Vouchers sold and not yet spent, by location: (the first day it may be spent, the value)."""
    deposits: list[tuple[date, int, Record]] = field(default_factory=list)
    """Deposit events to merge in: (the day, the order made, the deposit as then)."""
    day_ends: list[tuple[date, int]] = field(default_factory=list)
    """Where each day's events end in the history's list."""

    def _deposit(
        self,
        book: _Book,
        client: Record,
        location_id: str,
        taken: date,
        amount: Decimal,
        stay: date,
    ) -> Record:
        rng = self.rng
        deposit: Record = {
            "id": random_uuid(rng),
            "location_id": location_id,
            "client_id": client["id"],
            "paid_date": taken.isoformat(),
            "amount": money(amount),
            "currency": book.currency[location_id],
            "method": pick(rng, DEPOSIT_METHODS),
            "allocations": [],
            "reference": f"Booking {stay.isoformat()}",
            "updated_at": stamp(taken, book.tz(location_id), rng),
        }
        self.deposits.append((taken, len(self.deposits), deposit))
        return deposit

    def _apply(
        self, book: _Book, deposit: Record, invoice: Record, amount: Decimal, day: date
    ) -> None:
        applied = {
            **deposit,
            "allocations": [{"invoice_id": invoice["id"], "amount": money(amount)}],
            "updated_at": stamp(day, book.tz(invoice["location_id"]), self.rng),
        }
        self.deposits.append((day, len(self.deposits), applied))

    def before_payment(
        self, book: _Book, c: _Customer, invoice: Record, day: date, paid: date, due: Decimal
    ) -> Decimal:
        """A stay's deposit applied when it is invoiced, and a voucher handed over at payment:
        what is left for the customer's own payment (always more than nothing)."""
        rng = self.rng
        lid = invoice["location_id"]
        total = Decimal(invoice["total"])
        boarding = any(line["category"] == "boarding" for line in invoice["lines"])
        if boarding and total >= 100 and rng.random() < 0.25:
            taken = day - timedelta(days=rng.randint(7, 28))
            amount = min(Decimal(rng.choice(DEPOSITS)), Decimal(int(total * 2 / 5)))
            if taken >= max(book.start, c.joined) and amount < due:
                deposit = self._deposit(book, c.record, lid, taken, amount, day)
                self._apply(book, deposit, invoice, amount, day)
                book.summary.add("deposits_applied", lid)
                due -= amount
        held = self.vouchers.get(lid, [])
        if held and rng.random() < 0.15:
            usable = [v for v in held if v[0] <= day and v[1] < due]
            if usable:
                voucher = usable[0]
                held.remove(voucher)
                spent = {
                    "id": random_uuid(rng),
                    "location_id": lid,
                    "client_id": invoice["client_id"],
                    "paid_date": paid.isoformat(),
                    "amount": money(voucher[1]),
                    "currency": invoice["currency"],
                    "method": "voucher",
                    "allocations": [{"invoice_id": invoice["id"], "amount": money(voucher[1])}],
                    "updated_at": stamp(paid, book.tz(lid), rng),
                }
                book.schedule(paid, "payment", spent)
                due -= voucher[1]
        return due

    def after_card_payment(
        self, book: _Book, invoice: Record, boarding: Record, payment: Record
    ) -> None:
        """A night cancelled after a stay was paid by card: credit note and card refund."""
        rng = self.rng
        if payment["method"] != "stripe" or len(payment["allocations"]) != 1:
            return
        if rng.random() >= 0.1:
            return
        tz = book.tz(invoice["location_id"])
        day = date.fromisoformat(payment["paid_date"]) + timedelta(days=rng.randint(1, 3))
        credit = _night_credit(invoice, boarding, day, rng, tz)
        amount = Decimal(credit["total"])
        if amount > Decimal(payment["amount"]):
            return
        book.schedule(day, "credit_note", credit)
        book.schedule(day, "refund", _refund(rng, credit, "credit_note", amount, day, tz,
                                             "stripe", "Cancelled night"))  # fmt: skip

    def emitted(self, book: _Book, op: str, record: Record) -> None:
        """Card payments and refunds wait for a payout; a goodwill credit or an overpayment's
        excess is sometimes handed back a few days later; the summary counts the new kinds."""
        rng, lid = self.rng, record.get("location_id", "")
        if op == "payment" and record["method"] == "stripe":
            self.card_payments.setdefault(lid, []).append(record)
        if op == "refund":
            if record["method"] == "stripe":
                self.card_refunds.setdefault(lid, []).append(record)
            book.summary.add(_REFUND_KINDS[_source(record)], lid)
        elif op == "payment" and record["method"] == "voucher":
            book.summary.add("vouchers_redeemed", lid)
        elif op == "payment" and record["method"] in ("cash", "bank_transfer"):
            excess = _excess(record)
            if excess > 0 and rng.random() < 0.2:
                day = date.fromisoformat(record["paid_date"]) + timedelta(days=rng.randint(2, 14))
                refund = _refund(rng, record, "payment", excess, day, book.tz(lid),
                                 record["method"], "Credit on account paid back")  # fmt: skip
                book.schedule(day, "refund", refund)
        elif op == "credit_note" and record.get("reason") == "Goodwill" and rng.random() < 0.35:
            day = date.fromisoformat(record["date"]) + timedelta(days=rng.randint(1, 10))
            refund = _refund(rng, record, "credit_note", Decimal(record["total"]), day,
                             book.tz(lid), "bank_transfer", "Goodwill credit paid out")  # fmt: skip
            book.schedule(day, "refund", refund)

    def day(self, book: _Book, day: date, active: Sequence[_Customer]) -> None:
        """The day's voucher sales and cancelled bookings at each site, then its payouts."""
        rng = self.rng
        for lid in book.currency:
            if active and rng.random() < 0.03:
                self._sell_voucher(book, rng.choice(active).record, lid, day)
            if active and rng.random() < 0.012:
                self._cancel_booking(book, rng.choice(active), lid, day)
            if day.weekday() in PAYOUT_WEEKDAYS:
                self._pay_out(book, lid, day)
        self.day_ends.append((day, len(book.events)))

    def _sell_voucher(self, book: _Book, client: Record, lid: str, day: date) -> None:
        rng, tz = self.rng, book.tz(lid)
        amount = pick(rng, VOUCHERS)
        lines = [_voucher_line(amount)]
        invoice: Record = {
            "id": random_uuid(rng),
            "location_id": lid,
            "client_id": client["id"],
            "date": day.isoformat(),
            "due_date": day.isoformat(),
            "currency": book.currency[lid],
            "line_amount_types": "inclusive",
            "status": "paid",
            "lines": lines,
            "total": document_total(lines, "inclusive"),
            "reference": "Gift voucher",
            "updated_at": stamp(day, tz, rng),
        }
        book.emit("invoice", invoice)
        payment: Record = {
            "id": random_uuid(rng),
            "location_id": lid,
            "client_id": client["id"],
            "paid_date": day.isoformat(),
            "amount": amount,
            "currency": invoice["currency"],
            "method": pick(rng, VOUCHER_METHODS),
            "allocations": [{"invoice_id": invoice["id"], "amount": amount}],
            "updated_at": stamp(day, tz, rng),
        }
        book.emit("payment", payment)
        if rng.random() < 0.85:  # the rest are never spent (the admin's call, once expired)
            usable = day + timedelta(days=rng.randint(14, 180))  # a gift, given and then used
            self.vouchers.setdefault(lid, []).append((usable, Decimal(amount)))
        book.summary.add("vouchers_sold", lid)

    def _cancel_booking(self, book: _Book, c: _Customer, lid: str, day: date) -> None:
        """A booking cancelled today: its deposit (taken days ago) refunded, or kept as the fee."""
        rng, tz = self.rng, book.tz(lid)
        taken = day - timedelta(days=rng.randint(3, 21))
        stay = day + timedelta(days=rng.randint(1, 14))
        amount = Decimal(rng.choice(DEPOSITS))
        if taken < max(book.start, c.joined):
            return
        deposit = self._deposit(book, c.record, lid, taken, amount, stay)
        if rng.random() < 0.6:
            book.emit("refund", _refund(rng, deposit, "deposit", amount, day, tz,
                                        deposit["method"], "Booking cancelled"))  # fmt: skip
            return
        lines = [_fee_line(amount, stay.isoformat())]
        invoice: Record = {
            "id": random_uuid(rng),
            "location_id": lid,
            "client_id": c.record["id"],
            "date": day.isoformat(),
            "due_date": day.isoformat(),
            "currency": book.currency[lid],
            "line_amount_types": "inclusive",
            "status": "open",
            "lines": lines,
            "total": document_total(lines, "inclusive"),
            "reference": " & ".join(c.pets),
            "updated_at": stamp(day, tz, rng),
        }
        book.emit("invoice", invoice)
        self._apply(book, deposit, invoice, amount, day)
        book.summary.add("deposits_forfeited", lid)

    def _pay_out(self, book: _Book, lid: str, day: date) -> None:
        cut = business_days_before(day, SETTLEMENT_DAYS).isoformat()
        payments, refunds = self.card_payments.get(lid, []), self.card_refunds.get(lid, [])
        settled = [r for r in payments if r["paid_date"] <= cut]
        netted = [r for r in refunds if r["paid_date"] <= cut]
        payout = payout_of(self.rng, lid, book.currency[lid], day, book.tz(lid), settled, netted)
        if payout is not None:
            self.card_payments[lid] = [r for r in payments if r["paid_date"] > cut]
            self.card_refunds[lid] = [r for r in refunds if r["paid_date"] > cut]
            book.emit("payout", payout)

    def merged(self, book: _Book, events: list[tuple[str, Record]]) -> list[tuple[str, Record]]:
        """The history's events with the deposits put in at the end of their days, numbered in
        date order (a deposit's later versions keep its number and its place in the count)."""
        deposits = sorted(self.deposits, key=lambda d: (d[0], d[1]))
        numbers: dict[str, int] = {}
        out: list[tuple[str, Record]] = []
        at = taken = 0
        for day, end in self.day_ends:
            out.extend(events[at:end])
            at = end
            while taken < len(deposits) and deposits[taken][0] <= day:
                deposit = deposits[taken][2]
                if deposit["id"] not in numbers:
                    book.numbers["deposits"] += 1
                    numbers[deposit["id"]] = book.numbers["deposits"]
                    book.summary.add("deposits", deposit["location_id"])
                deposit["number"] = numbers[deposit["id"]]
                out.append(("deposit", deposit))
                taken += 1
        out.extend(events[at:])
        return out


# -- a live day -----------------------------------------------------------------------------------


def live_money_flows(host: RefHost, day: date, rng: random.Random, summary: Counts) -> None:
    """The money flows of one live day at every location, through the host's API (every hook
    fires): the day's payout, bookings taken and stays they were for, card and other refunds,
    vouchers sold and spent. What is waiting (card payments not paid out, deposits held) is read
    from the host's store, so a practice generated with the flows carries on where it stopped."""
    for loc in host.locations():
        pool = host.store.clients_of(loc["id"])
        if not pool:
            continue
        live = _Live(host, rng, day, loc["id"], loc["timezone"], loc["currency"], summary)
        if day.weekday() in PAYOUT_WEEKDAYS:
            live.pay_out()
        live.stays_booked_for_today()
        if rng.random() < 0.3:
            live.take_deposit(rng.choice(pool))
        live.card_refunds()
        if rng.random() < 0.05:
            live.overpayment_refund()
        if rng.random() < 0.02:
            live.goodwill_refund(rng.choice(pool))
        if rng.random() < 0.06:
            live.sell_voucher(rng.choice(pool))
        if rng.random() < 0.3:
            live.spend_voucher()


_LOOK_BACK: Final = timedelta(days=90)
"""How far back a live day looks for what is still waiting (card payments, deposits held)."""


@dataclass
class _Live:
    host: RefHost
    rng: random.Random
    day: date
    lid: str
    tz: str
    currency: str
    summary: Counts

    @property
    def since(self) -> date:
        return self.day - _LOOK_BACK

    def _count(self, kind: str) -> None:
        self.summary.add(kind, self.lid)

    def _refund(self, credit: Record, source: str, amount: Decimal, method: str, why: str) -> None:
        refund = _refund(self.rng, credit, source, amount, self.day, self.tz, method, why)
        del refund["updated_at"]  # the host stamps it from its clock
        self.host.record_refund(refund)
        self._count("refunds")
        self._count(_REFUND_KINDS[source])

    def pay_out(self) -> None:
        """Today's payout: every card payment and refund up to two business days ago that no
        payout has settled yet."""
        store, cut = self.host.store, business_days_before(self.day, SETTLEMENT_DAYS).isoformat()
        settled: set[str] = set()
        for earlier in store.by_field("payouts", self.lid, "method", "stripe", self.since):
            settled.update(earlier.get("payment_ids", []))
            settled.update(earlier.get("refund_ids", []))

        def waiting(kind: Kind) -> list[Record]:
            found = store.by_field(kind, self.lid, "method", "stripe", self.since)
            return [r for r in found if r["paid_date"] <= cut and r["id"] not in settled]

        payments, refunds = waiting("payments"), waiting("refunds")
        payout = payout_of(self.rng, self.lid, self.currency, self.day, self.tz, payments, refunds)
        if payout is not None:
            del payout["updated_at"]
            self.host.record_payout(payout)
            self._count("payouts")

    def take_deposit(self, client: Record) -> None:
        """A stay booked today for one to four weeks ahead, with a deposit."""
        rng = self.rng
        stay = self.day + timedelta(days=rng.randint(7, 28))
        self.host.record_deposit(
            {
                "id": random_uuid(rng),
                "location_id": self.lid,
                "client_id": client["id"],
                "paid_date": self.day.isoformat(),
                "amount": money(Decimal(rng.choice(DEPOSITS))),
                "method": pick(rng, DEPOSIT_METHODS),
                "allocations": [],
                "reference": f"Booking {stay.isoformat()}",
            }
        )
        self._count("deposits")

    def _held(self) -> list[Record]:
        """Deposits not applied and not refunded, oldest first."""
        store = self.host.store
        refunded = {
            r.get("deposit_id")
            for r in store.by_field("refunds", self.lid, "location_id", self.lid)
        }
        return [
            d
            for d in store.by_field("deposits", self.lid, "location_id", self.lid, self.since)
            if not d.get("allocations") and d["id"] not in refunded
        ]

    def stays_booked_for_today(self) -> None:
        """Each held deposit whose stay is today (or was missed): the stay is invoiced and the
        deposit applied, the balance paid; or the booking was cancelled and the deposit refunded
        or kept as the cancellation fee."""
        rng = self.rng
        for deposit in self._held():
            stay = str(deposit.get("reference") or "").removeprefix("Booking ")
            if not stay or stay > self.day.isoformat():
                continue
            amount = Decimal(deposit["amount"])
            r = rng.random()
            if r < 0.85:
                area = pick(rng, AREAS)
                nights = rng.choice((2, 3, 4, 5, 7))
                lines = [item_line(area, nights, exclusive=False)]
                invoice = self._invoice(deposit["client_id"], lines, "Boarding stay")
                applied = min(amount, Decimal(invoice["total"]))
                self._apply(deposit, invoice, applied)
                rest = Decimal(invoice["total"]) - applied
                if rest > 0:
                    self._pay(invoice, rest, pick(rng, DEPOSIT_METHODS))
            elif r < 0.93:
                self._refund(deposit, "deposit", amount, deposit["method"], "Booking cancelled")
            else:
                invoice = self._invoice(deposit["client_id"], [_fee_line(amount, stay)], "Fee")
                self._apply(deposit, invoice, amount)
                self._count("deposits_forfeited")

    def _invoice(self, client_id: str, lines: list[Record], reference: str) -> Record:
        invoice = self.host.create_invoice(
            {
                "id": random_uuid(self.rng),
                "location_id": self.lid,
                "client_id": client_id,
                "date": self.day.isoformat(),
                "due_date": self.day.isoformat(),
                "line_amount_types": "inclusive",
                "lines": lines,
                "reference": reference,
            }
        )
        self._count("invoices")
        return invoice

    def _apply(self, deposit: Record, invoice: Record, amount: Decimal) -> None:
        allocation = {"invoice_id": invoice["id"], "amount": money(amount)}
        self.host.record_deposit({"id": deposit["id"], "allocations": [allocation]})
        self._count("deposits_applied")

    def _pay(self, invoice: Record, amount: Decimal, method: str) -> Record:
        payment = self.host.record_payment(
            {
                "id": random_uuid(self.rng),
                "location_id": self.lid,
                "client_id": invoice["client_id"],
                "paid_date": self.day.isoformat(),
                "amount": money(amount),
                "method": method,
                "allocations": [{"invoice_id": invoice["id"], "amount": money(amount)}],
            }
        )
        self._count("payments")
        return payment

    def card_refunds(self) -> None:
        """A night cancelled after a stay was paid by card today: credit note and card refund."""
        store = self.host.store
        for payment in store.by_field("payments", self.lid, "paid_date", self.day.isoformat()):
            if payment.get("method") != "stripe" or len(payment.get("allocations", [])) != 1:
                continue
            invoice = store.get("invoices", payment["allocations"][0]["invoice_id"])
            nights = [
                ln
                for ln in (invoice or {}).get("lines", [])
                if ln.get("category") == "boarding" and Decimal(ln.get("quantity", "0")) >= 2
            ]
            if invoice is None or not nights or self.rng.random() >= 0.1:
                continue
            credit = _night_credit(invoice, nights[0], self.day, self.rng, self.tz)
            if Decimal(credit["total"]) > Decimal(payment["amount"]):
                continue
            del credit["updated_at"]
            credit = self.host.create_credit_note(credit)
            self._count("credit_notes")
            self._refund(credit, "credit_note", Decimal(credit["total"]), "stripe",
                         "Cancelled night")  # fmt: skip

    def overpayment_refund(self) -> None:
        """The excess of a recent overpayment handed back, if one is not refunded yet."""
        store, since = self.host.store, self.day - timedelta(days=30)
        refunded = {
            r.get("payment_id")
            for r in store.by_field("refunds", self.lid, "location_id", self.lid)
        }
        for method in ("cash", "bank_transfer"):
            for payment in store.by_field("payments", self.lid, "method", method, since):
                excess = _excess(payment)
                if excess > 0 and payment["id"] not in refunded:
                    self._refund(payment, "payment", excess, method, "Credit on account paid back")
                    return

    def goodwill_refund(self, client: Record) -> None:
        """A goodwill credit after a complaint, paid out by bank transfer."""
        line = {"description": "Goodwill credit", "category": "adjustment", "quantity": "1",
                "unit_price": "20.00", "tax_rate": "10"}  # fmt: skip
        credit = self.host.create_credit_note(
            {
                "id": random_uuid(self.rng),
                "location_id": self.lid,
                "client_id": client["id"],
                "date": self.day.isoformat(),
                "line_amount_types": "inclusive",
                "lines": [line],
                "invoice_id": None,
                "reason": "Goodwill",
            }
        )
        self._count("credit_notes")
        self._refund(credit, "credit_note", Decimal(credit["total"]), "bank_transfer",
                     "Goodwill credit paid out")  # fmt: skip

    def sell_voucher(self, client: Record) -> None:
        """A gift voucher sold and paid for at the counter."""
        amount = pick(self.rng, VOUCHERS)
        invoice = self._invoice(client["id"], [_voucher_line(amount)], "Gift voucher")
        self._pay(invoice, Decimal(amount), pick(self.rng, VOUCHER_METHODS))
        self._count("vouchers_sold")

    def spend_voucher(self) -> None:
        """A voucher handed over for one of today's invoices: never more than the site has sold
        and not yet seen spent."""
        store = self.host.store
        sold = sum(
            (
                Decimal(ln["unit_price"]) * Decimal(ln.get("quantity", "1"))
                for invoice in store.invoices_selling(self.lid, "voucher")
                if invoice.get("status") != "voided"
                for ln in invoice["lines"]
                if ln.get("category") == "voucher"
            ),
            Decimal(0),
        )
        spent = sum(
            (
                Decimal(p["amount"])
                for p in store.by_field("payments", self.lid, "method", "voucher")
            ),
            Decimal(0),
        )
        left = sold - spent
        today = [
            (invoice, owed)
            for invoice, owed in store.outstanding(self.lid, before=self.day + timedelta(days=1))
            if invoice["date"] == self.day.isoformat()
        ]
        if left <= 0 or not today:
            return
        invoice, owed = today[0]
        amount = min(owed, left, Decimal(pick(self.rng, VOUCHERS)))
        self._pay(invoice, amount, "voucher")
        self._count("vouchers_redeemed")
