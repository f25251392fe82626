"""A realistic, seeded pet-care practice: the data the demo and the tests run on.

:func:`generate_practice` writes years of history into a :class:`~hookspecs.refhost.RefHost`:
several sites, hundreds of customers (about one in ten also visits a second site), boarding stays,
daycare, grooming and retail, paid the same day or weeks later, partly, two invoices at once, or
too much (overpayments), with the odd cancelled night refunded by credit note, voided invoice and
bill never paid. The same seed always gives the same records, byte for byte.

:func:`live_day` / :func:`simulate_days` then make the new records a running practice makes on
given days, through the host's API, so every hook fires as it would in production.

Totals follow :mod:`hookspecs.refhost.money` (per-line rounding to cents). Numbers (customer,
invoice, credit note, payment) are business-wide sequences, as in Pet Manager: unique across
sites and increasing with the date.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Final, TypeVar
from zoneinfo import ZoneInfo

from hookspecs.refhost.catalogue import (
    AREAS,
    CUSTOMER_TYPES,
    DAYCARE,
    EXTRAS,
    FIRST_NAMES,
    GROOMING,
    LAST_NAMES,
    LOCATIONS,
    PAYMENT_METHODS,
    PETS,
    PROFILE_VISITS_PER_DAY,
    PROFILES,
    RETAIL,
    STREETS,
    Site,
)
from hookspecs.refhost.clock import ManualClock
from hookspecs.refhost.draws import Record
from hookspecs.refhost.draws import item_line as _line
from hookspecs.refhost.draws import pick as _pick
from hookspecs.refhost.draws import random_uuid as _uuid
from hookspecs.refhost.draws import stamp as _stamp
from hookspecs.refhost.money import document_total, money
from hookspecs.refhost.money_flows import HistoryFlows, live_money_flows
from hookspecs.refhost.store import KINDS

if TYPE_CHECKING:
    from hookspecs.refhost.host import RefHost

__all__ = ["PracticeSummary", "generate_practice", "live_day", "simulate_days"]

T = TypeVar("T")
_NIGHTS: Final = (
    (1, 0.1), (2, 0.2), (3, 0.2), (4, 0.15), (5, 0.1), (7, 0.15), (10, 0.05), (14, 0.05)
)  # fmt: skip
_DAYS: Final = ((1, 0.4), (2, 0.2), (3, 0.2), (5, 0.2))
_NUMBERED: Final = {
    "invoice": "invoices",
    "credit_note": "credit_notes",
    "payment": "payments",
    "refund": "refunds",
    "payout": "payouts",
}
"""The events that take the next number of their kind when emitted (deposits are numbered when
the history is complete: they are taken on days already past when the stay decides them)."""


@dataclass
class PracticeSummary:
    """What was created, per kind per location: ``counts["invoices"]["bondi-beach"] == 812``.

    Kinds: ``clients``, ``invoices``, ``credit_notes``, ``payments``, and the notable subsets
    ``overpayments`` (payments with money left unallocated), ``split_payments`` (one payment
    for several invoices), ``partial_payments``, ``voided`` (invoices), ``invoice_updates``,
    ``client_updates``, ``multi_location_clients`` (customers with a document away from home).
    """

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = field(default=0.0, compare=False)
    """Wall time taken (not part of equality: the same seed gives an equal summary)."""

    def add(self, kind: str, location_id: str, n: int = 1) -> None:
        """Count ``n`` more of ``kind`` at ``location_id``."""
        per_location = self.counts.setdefault(kind, {})
        per_location[location_id] = per_location.get(location_id, 0) + n

    def total(self, kind: str) -> int:
        """How many of ``kind`` across all locations."""
        return sum(self.counts.get(kind, {}).values())

    def merge(self, other: PracticeSummary) -> None:
        """Add another summary's counts and time to this one (a practice made in several calls)."""
        for kind, per_location in other.counts.items():
            for location_id, n in per_location.items():
                self.add(kind, location_id, n)
        self.seconds += other.seconds


# -- small helpers --------------------------------------------------------------------------------


def _site(location_id: str) -> Site | None:
    return next((s for s in LOCATIONS if s.id == location_id), None)


def _pets(rng: random.Random) -> list[str]:
    return rng.sample(PETS, 2 if rng.random() < 0.2 else 1)


def _invoice_lines(
    rng: random.Random, profile: str, customer_type: str, pets: list[str], exclusive: bool
) -> tuple[list[Record], int | None]:
    """Lines for one visit of a customer of ``profile``; also the index of a boarding line of
    two or more nights (the one a cancelled night can be refunded from), if any."""
    staff = "25" if customer_type == "staff" else None
    pet = pets[0]
    lines: list[Record] = []
    refundable: int | None = None
    if profile == "boarder":
        area = _pick(rng, AREAS)
        nights = _pick(rng, _NIGHTS)
        discount = staff or ("10" if customer_type == "vip" else "5" if nights >= 10 else None)
        lines.append(_line(area, nights, exclusive=exclusive, discount=discount, pet=pet))
        refundable = 0 if nights >= 2 else None
        if rng.random() < 0.3:
            walks = rng.randint(1, nights)
            lines.append(_line(EXTRAS["walk"], walks, exclusive=exclusive, discount=staff))
        if rng.random() < 0.1:
            lines.append(_line(EXTRAS["medication"], nights, exclusive=exclusive, discount=staff))
        if rng.random() < 0.25:
            lines.append(_line(EXTRAS["bath"], 1, exclusive=exclusive, discount=staff, pet=pet))
        if rng.random() < 0.1:
            lines.append(_line(EXTRAS["pickup"], 1, exclusive=exclusive))
    elif profile == "daycare":
        item = _pick(rng, DAYCARE)
        days = 1 if "pack" in item.description else _pick(rng, _DAYS)
        lines.append(_line(item, days, exclusive=exclusive, discount=staff, pet=pet))
        if rng.random() < 0.05:
            lines.append(_line(EXTRAS["training"], 1, exclusive=exclusive, discount=staff))
    elif profile == "groomer":
        for p in pets:
            item = _pick(rng, GROOMING)
            lines.append(_line(item, 1, exclusive=exclusive, discount=staff, pet=p))
    if profile == "shopper" or rng.random() < 0.2:
        for _ in range(rng.randint(1, 3)):
            item = _pick(rng, RETAIL)
            qty = 1 if rng.random() < 0.85 else 2
            lines.append(_line(item, qty, exclusive=exclusive, discount=staff))
    return lines, refundable


def _new_client(
    rng: random.Random, site: Site | None, location_id: str, day: date, tz: str
) -> Record:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    client: Record = {
        "id": _uuid(rng),
        "location_id": location_id,
        "first_name": first,
        "last_name": last,
        "customer_type": _pick(rng, CUSTOMER_TYPES),
        "updated_at": _stamp(day, tz, rng),
    }
    handle = f"{first}.{last}".lower().replace("'", "")
    domain = rng.choice(("example.com", "example.net", "example.org"))
    client["email"] = None if rng.random() < 0.05 else f"{handle}{rng.randint(1, 999)}@{domain}"
    client["phone"] = (
        None
        if rng.random() < 0.03
        else f"04{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
    )
    if rng.random() < 0.9:
        suburbs = site.suburbs if site else (("Sydney", "2000"),)
        suburb, postcode = rng.choice(suburbs)
        client["address"] = {
            "line1": f"{rng.randint(1, 240)} {rng.choice(STREETS)}",
            "city": suburb,
            "region": site.region if site else "NSW",
            "postcode": postcode,
            "country": "AU",
        }
    return client


def _overpaid(amount: Decimal, rng: random.Random) -> Decimal:
    """Cash handed over rounded up to the next $10, sometimes $10 more, "keep it as credit"."""
    up = (amount / 10).to_integral_value(rounding=ROUND_CEILING) * 10
    if up == amount or rng.random() < 0.5:
        up += 10
    return up


# -- the history generator ------------------------------------------------------------------------


@dataclass
class _Customer:
    record: Record
    profile: str
    pets: list[str]
    rate: float
    home: str
    second: str | None
    joined: date


@dataclass
class _History:
    """Builds a practice's history day by day as an ordered list of events."""

    rng: random.Random
    sites: list[Site]
    currency: dict[str, str]
    start: date
    end: date
    numbers: dict[str, int]
    events: list[tuple[str, Record]] = field(default_factory=list)
    summary: PracticeSummary = field(default_factory=PracticeSummary)
    scheduled: dict[date, list[tuple[str, Record]]] = field(default_factory=dict)
    carried: dict[tuple[str, str], list[tuple[str, Decimal]]] = field(default_factory=dict)
    away: set[str] = field(default_factory=set)
    partial: set[str] = field(default_factory=set)
    flows: HistoryFlows | None = None
    """The money flows (payouts, deposits, refunds, vouchers), when the practice has them."""

    def _next(self, kind: str) -> int:
        self.numbers[kind] += 1
        return self.numbers[kind]

    def tz(self, location_id: str) -> str:
        return next(s.timezone for s in self.sites if s.id == location_id)

    def schedule(self, day: date, op: str, record: Record) -> None:
        if day <= self.end:
            self.scheduled.setdefault(day, []).append((op, record))

    def customers(self, n: int) -> list[_Customer]:
        rng, span = self.rng, (self.end - self.start).days + 1
        made: list[_Customer] = []
        for _ in range(n):
            site = rng.choice(self.sites)
            joined = (
                self.start if rng.random() < 0.5 else self.start + timedelta(rng.randrange(span))
            )
            others = [s for s in self.sites if s.id != site.id]
            second = rng.choice(others).id if others and rng.random() < 0.12 else None
            profile = rng.choices(PROFILES, weights=site.profile_weights)[0]
            record = _new_client(rng, site, site.id, joined, site.timezone)
            rate = PROFILE_VISITS_PER_DAY[profile] * rng.uniform(0.5, 1.5)
            made.append(_Customer(record, profile, _pets(rng), rate, site.id, second, joined))
        made.sort(key=lambda c: c.joined)  # stable: numbers follow the joining order
        return made

    def run(self, customers: list[_Customer]) -> None:
        rng = self.rng
        day, i, active = self.start, 0, []
        while day <= self.end:
            while i < len(customers) and customers[i].joined <= day:
                c = customers[i]
                c.record["number"] = self._next("clients")
                self.events.append(("client", c.record))
                self.summary.add("clients", c.home)
                active.append(c)
                i += 1
            for c in active:
                if rng.random() < c.rate:
                    away = c.second is not None and rng.random() < 0.4
                    self.invoice(c, c.second if away and c.second else c.home, day)
            for site in self.sites:
                if active and rng.random() < 0.01:
                    self.prepayment(rng.choice(active), site.id, day)
                if active and rng.random() < 0.004:
                    self.goodwill_credit(rng.choice(active), site.id, day)
            for op, record in self.scheduled.pop(day, []):
                self.emit(op, record)
            if self.flows is not None:
                self.flows.day(self, day, active)
            day += timedelta(days=1)
        if self.flows is not None:
            self.events = self.flows.merged(self, self.events)

    def emit(self, op: str, record: Record) -> None:
        kind = _NUMBERED.get(op)
        if kind is not None:
            record["number"] = self._next(kind)
            self.summary.add(kind, record["location_id"])
        if op == "payment":
            allocated = sum((Decimal(a["amount"]) for a in record["allocations"]), Decimal(0))
            if Decimal(record["amount"]) > allocated:
                self.summary.add("overpayments", record["location_id"])
            if len(record["allocations"]) > 1:
                self.summary.add("split_payments", record["location_id"])
            if record["id"] in self.partial:
                self.summary.add("partial_payments", record["location_id"])
        elif op == "void":
            self.summary.add("voided", record["location_id"])
        self.events.append((op, record))
        if self.flows is not None:
            self.flows.emitted(self, op, record)

    def invoice(self, c: _Customer, location_id: str, day: date) -> None:
        rng, tz = self.rng, self.tz(location_id)
        if location_id != c.home and c.record["id"] not in self.away:
            self.away.add(c.record["id"])
            self.summary.add("multi_location_clients", c.home)
        ctype = c.record["customer_type"]
        exclusive = ctype == "breeder" or rng.random() < 0.03
        lines, refundable = _invoice_lines(rng, c.profile, ctype, c.pets, exclusive)
        lat = "exclusive" if exclusive else "inclusive"
        total = Decimal(document_total(lines, lat))
        invoice: Record = {
            "id": _uuid(rng),
            "location_id": location_id,
            "client_id": c.record["id"],
            "date": day.isoformat(),
            "due_date": (day + timedelta(days=0 if c.profile == "shopper" else 7)).isoformat(),
            "currency": self.currency[location_id],
            "line_amount_types": lat,
            "status": "open",
            "lines": lines,
            "total": money(total),
            "reference": " & ".join(c.pets),
            "updated_at": _stamp(day, tz, rng),
        }
        self.emit("invoice", invoice)
        key = (c.record["id"], location_id)
        r = rng.random()
        if r < 0.025:  # cancelled booking: voided a few days later, never paid
            void = {"id": invoice["id"], "location_id": location_id, "status": "voided"}
            when = day + timedelta(days=rng.randint(0, 3))
            void["updated_at"] = _stamp(when, tz, rng)
            self.schedule(when, "void", void)
        elif r < 0.05:  # never paid
            return
        elif r < 0.11 and total >= 40:  # deposit now, balance later (or never)
            deposit = Decimal(int(total / 2))
            first = self.payment(invoice, [(invoice["id"], deposit)], day)
            self.partial.add(first["id"])
            self.schedule(day, "payment", first)
            if rng.random() < 0.75:
                later = day + timedelta(days=rng.randint(1, 30))
                balance = [(invoice["id"], total - deposit)]
                self.schedule(later, "payment", self.payment(invoice, balance, later))
        elif r < 0.18:  # "I'll pay it next time": settled with the next invoice paid in full
            self.carried.setdefault(key, []).append((invoice["id"], total))
        else:
            delay = _pick(rng, [(0, 0.6), (rng.randint(1, 7), 0.25), (rng.randint(8, 45), 0.15)])
            due = total
            if refundable is not None and rng.random() < 0.06:
                cn_day = day + timedelta(days=rng.randint(1, 3))
                credit = self.refund_night(invoice, lines[refundable], cn_day)
                self.schedule(cn_day, "credit_note", credit)
                due -= Decimal(credit["total"])
                delay = max(delay, (cn_day - day).days)
            if delay == 0 and c.profile == "shopper":
                invoice["status"] = "paid"  # a point-of-sale sale, paid at the counter
            paid = day + timedelta(days=delay)
            if self.flows is not None:  # a deposit taken for the stay, a voucher handed over
                due = self.flows.before_payment(self, c, invoice, day, paid, due)
            allocations = [(invoice["id"], due), *self.carried.pop(key, [])]
            payment = self.payment(invoice, allocations, paid)
            if rng.random() < 0.03 and payment["method"] in ("cash", "bank_transfer"):
                payment["amount"] = money(_overpaid(Decimal(payment["amount"]), rng))
            self.schedule(paid, "payment", payment)
            if self.flows is not None and due == total and refundable is not None:
                self.flows.after_card_payment(self, invoice, lines[refundable], payment)

    def payment(
        self, invoice: Record, allocations: list[tuple[str, Decimal]], paid: date
    ) -> Record:
        rng = self.rng
        amount = sum((a for _, a in allocations), Decimal(0))
        return {
            "id": _uuid(rng),
            "location_id": invoice["location_id"],
            "client_id": invoice["client_id"],
            "paid_date": paid.isoformat(),
            "amount": money(amount),
            "currency": invoice["currency"],
            "method": _pick(rng, PAYMENT_METHODS),
            "allocations": [{"invoice_id": i, "amount": money(a)} for i, a in allocations],
            "updated_at": _stamp(paid, self.tz(invoice["location_id"]), rng),
        }

    def refund_night(self, invoice: Record, boarding: Record, day: date) -> Record:
        line = {**boarding, "quantity": "1"}
        line["description"] = f"Refund – cancelled night: {boarding['description']}"
        lat = invoice["line_amount_types"]
        return {
            "id": _uuid(self.rng),
            "location_id": invoice["location_id"],
            "client_id": invoice["client_id"],
            "date": day.isoformat(),
            "currency": invoice["currency"],
            "line_amount_types": lat,
            "lines": [line],
            "total": document_total([line], lat),
            "invoice_id": invoice["id"],
            "reason": "Cancelled night",
            "updated_at": _stamp(day, self.tz(invoice["location_id"]), self.rng),
        }

    def prepayment(self, c: _Customer, location_id: str, day: date) -> None:
        """Money paid on account before any invoice: all of it is an overpayment."""
        rng = self.rng
        amount = Decimal(rng.choice((100, 150, 200, 300)))
        payment = {
            "id": _uuid(rng),
            "location_id": location_id,
            "client_id": c.record["id"],
            "paid_date": day.isoformat(),
            "amount": money(amount),
            "currency": self.currency[location_id],
            "method": "bank_transfer",
            "allocations": [],
            "updated_at": _stamp(day, self.tz(location_id), rng),
        }
        self.emit("payment", payment)

    def goodwill_credit(self, c: _Customer, location_id: str, day: date) -> None:
        """A credit note against no invoice (a goodwill gesture after a complaint)."""
        line = {
            "description": "Goodwill credit",
            "category": "adjustment",
            "quantity": "1",
            "unit_price": "20.00",
            "tax_rate": "10",
        }
        credit = {
            "id": _uuid(self.rng),
            "location_id": location_id,
            "client_id": c.record["id"],
            "date": day.isoformat(),
            "currency": self.currency[location_id],
            "line_amount_types": "inclusive",
            "lines": [line],
            "total": document_total([line], "inclusive"),
            "invoice_id": None,
            "reason": "Goodwill",
            "updated_at": _stamp(day, self.tz(location_id), self.rng),
        }
        self.emit("credit_note", credit)


def _sites(n: int) -> list[Site]:
    if n < 1:
        raise ValueError("a practice has at least one location")
    sites = list(LOCATIONS[:n])
    for k in range(len(sites) + 1, n + 1):
        base = LOCATIONS[k % len(LOCATIONS)]
        sites.append(base._replace(id=f"site-{k}", name=f"Pet Resort No. {k}"))
    return sites


def generate_practice(
    host: RefHost,
    seed: int = 0,
    locations: int = 3,
    clients: int = 300,
    start: date | None = None,
    end: date | None = None,
    fire_hooks: bool = False,
    money_flows: bool = False,
) -> PracticeSummary:
    """Write a realistic practice's history into ``host``; deterministic for a given ``seed``.

    Locations missing from the host are added (Bondi Beach Pet Resort, Parramatta Dog Daycare,
    Newtown Grooming Studio, then more Australian sites); numbers continue the host's sequences.
    The default size (3 sites, 300 customers, two years: about 2,500 invoices and as many
    payments) takes well under three seconds.

    :param start: the first day of history; default: two years before ``end``.
    :param end: the last day of history; default: the host clock's date, so that no history is
        dated after the host's "now".
    :param fire_hooks: ``False`` writes straight to the store in one transaction per kind (no
        plugin hears of it: it is "history before the plugin was installed"); ``True`` goes
        through the host's API record by record, in date order, so every hook fires. Both store
        exactly the same records.
    :param money_flows: the practice also moves money in the other ways a pet resort does
        (:mod:`hookspecs.refhost.money_flows`): card payouts with their fees, booking deposits
        applied to stays (some refunded or kept as a cancellation fee), refunds of credit notes,
        overpayments and deposits, gift vouchers sold and spent. Off by default: a practice
        without them is exactly the practice this function made before they existed. With them,
        every other record keeps its content (the flows draw from a stream of their own) and
        only the numbers after the first new record move up.
    Generating again into a practice that already holds records adds more history: numbers
    continue and ids are drawn from a stream of the seed *and* the host's sequences, so a script
    run twice on one data directory works (and stays deterministic) instead of clashing on ids.

    :return: what was created, per kind per location.
    """
    began = time.perf_counter()
    if end is None:
        end = host.clock.now().date()
    if start is None:
        start = end - timedelta(days=730)
    if end < start:
        raise ValueError("end is before start")
    numbers: dict[str, int] = {kind: host.store.max_number(kind) for kind in KINDS}
    keyed = _stream_key(numbers)
    rng = random.Random(seed if not any(keyed.values()) else f"{seed}:{sorted(keyed.items())}")
    sites = _sites(locations)
    for site in sites:
        if host.location(site.id) is None:
            host.add_location(
                {
                    "id": site.id,
                    "name": site.name,
                    "timezone": site.timezone,
                    "currency": "AUD",
                    "country": "AU",
                }
            )
    currency = {loc["id"]: loc["currency"] for loc in host.locations()}
    history = _History(rng, sites, currency, start, end, numbers)
    if money_flows:
        history.flows = HistoryFlows(random.Random(f"money-flows:{seed}:{sorted(keyed.items())}"))
    history.run(history.customers(clients))
    if fire_hooks:
        _replay(host, history.events)
    else:
        _bulk_write(host, history.events)
    history.summary.seconds = time.perf_counter() - began
    return history.summary


def _replay(host: RefHost, events: list[tuple[str, Record]]) -> None:
    for op, record in events:
        if op == "client":
            host.save_client(record)
        elif op == "invoice":
            host.create_invoice(record)
        elif op == "void":
            host.void_invoice(record["id"], updated_at=record["updated_at"])
        elif op == "credit_note":
            host.create_credit_note(record)
        elif op == "payment":
            host.record_payment(record)
        elif op == "deposit":
            host.record_deposit(record)
        elif op == "refund":
            host.record_refund(record)
        elif op == "payout":
            host.record_payout(record)


def _bulk_write(host: RefHost, events: list[tuple[str, Record]]) -> None:
    final: dict[str, list[Record]] = defaultdict(list)
    invoices: dict[str, Record] = {}
    deposits: dict[str, Record] = {}
    for op, record in events:
        if op == "client":
            final["clients"].append(record)
        elif op == "invoice":
            invoices[record["id"]] = record
            final["invoices"].append(record)
        elif op == "void":
            invoices[record["id"]].update(status="voided", updated_at=record["updated_at"])
        elif op == "credit_note":
            final["credit_notes"].append(record)
        elif op in ("payment", "refund", "payout"):
            final[_NUMBERED[op]].append(record)
        elif op == "deposit":
            deposits[record["id"]] = record  # its last version: the allocations it ended with
    final["deposits"] = list(deposits.values())
    for kind in KINDS:
        host.store.insert_many(kind, final[kind])


# -- a live practice ------------------------------------------------------------------------------


def live_day(
    host: RefHost,
    day: date,
    rng: random.Random,
    per_day: int | None = None,
    money_flows: bool = False,
) -> PracticeSummary:
    """Make what a running practice makes on ``day``, through the host's API (hooks fire).

    Per location: now and then a new customer; ``per_day`` invoices (default: about four, varying)
    for its customers and, one time in twelve, a customer from another site; most paid at the
    counter, some later; older open invoices settled (two at once for a customer who owes two);
    and occasionally a refunded night, a voided booking, an invoice edited after the fact, a
    customer's new phone number and money paid on account. Ids and content come from ``rng``;
    numbers and ``updated_at`` from the host (its sequences and its clock).

    ``money_flows``: then the day's card payout, deposits, refunds and vouchers too
    (:func:`hookspecs.refhost.money_flows.live_money_flows`), drawn from a stream of their own
    (seeded from ``rng``'s state, which they leave untouched), after everything else.

    :raises ValueError: the host has no locations yet.
    """
    began = time.perf_counter()
    locations = host.locations()
    if not locations:
        raise ValueError("the practice has no locations: run generate_practice or add_location")
    summary = PracticeSummary()
    visitors: set[str] = set()
    pools = {loc["id"]: host.store.clients_of(loc["id"]) for loc in locations}
    for loc in locations:
        lid, tz, site = loc["id"], loc["timezone"], _site(loc["id"])
        pool = pools[lid]
        if not pool or rng.random() < 0.4:
            client = _new_client(rng, site, lid, day, tz)
            del client["updated_at"]  # the host stamps it from its clock
            pool.append(host.save_client(client))
            summary.add("clients", lid)
        elsewhere = [c for other, cs in pools.items() if other != lid for c in cs]
        created: list[tuple[Record, int | None]] = []
        count = per_day if per_day is not None else max(0, round(rng.gauss(4, 1.5)))
        for _ in range(count):
            client = (
                rng.choice(elsewhere) if elsewhere and rng.random() < 1 / 12 else rng.choice(pool)
            )
            weights = site.profile_weights if site else (0.25, 0.25, 0.25, 0.25)
            profile = rng.choices(PROFILES, weights=weights)[0]
            ctype = str(client.get("customer_type") or "standard")
            exclusive = ctype == "breeder"
            lines, refundable = _invoice_lines(rng, profile, ctype, _pets(rng), exclusive)
            invoice = host.create_invoice(
                {
                    "id": _uuid(rng),
                    "location_id": lid,
                    "client_id": client["id"],
                    "date": day.isoformat(),
                    "due_date": (day + timedelta(days=7)).isoformat(),
                    "line_amount_types": "exclusive" if exclusive else "inclusive",
                    "lines": lines,
                    "reference": rng.choice(PETS),
                }
            )
            summary.add("invoices", lid)
            if client["location_id"] != lid and client["id"] not in visitors:
                visitors.add(client["id"])
                summary.add("multi_location_clients", str(client["location_id"]))
            created.append((invoice, refundable))
        _live_changes(host, rng, day, lid, created, summary)
        _live_payments(host, rng, day, lid, created, summary)
    if money_flows:
        state = random.Random()
        state.setstate(rng.getstate())
        live_money_flows(host, day, random.Random(f"money-flows:{state.getrandbits(128)}"), summary)
    summary.seconds = time.perf_counter() - began
    return summary


def _live_changes(
    host: RefHost,
    rng: random.Random,
    day: date,
    lid: str,
    created: list[tuple[Record, int | None]],
    summary: PracticeSummary,
) -> None:
    """Refunds, voids and edits of today's invoices; a customer's changed details."""
    for invoice, refundable in list(created):
        r = rng.random()
        if r < 0.04 and refundable is not None:
            night = {**invoice["lines"][refundable], "quantity": "1"}
            night["description"] = f"Refund – cancelled night: {night['description']}"
            host.create_credit_note(
                {
                    "id": _uuid(rng),
                    "location_id": lid,
                    "client_id": invoice["client_id"],
                    "date": day.isoformat(),
                    "line_amount_types": invoice["line_amount_types"],
                    "lines": [night],
                    "invoice_id": invoice["id"],
                    "reason": "Cancelled night",
                }
            )
            summary.add("credit_notes", lid)
        elif r < 0.07:
            host.void_invoice(invoice["id"])
            created.remove((invoice, refundable))
            summary.add("voided", lid)
        elif r < 0.10:
            extra = _line(EXTRAS["walk"], 1, exclusive=invoice["line_amount_types"] == "exclusive")
            updated = host.update_invoice(
                {"id": invoice["id"], "lines": [*invoice["lines"], extra]}
            )
            created[created.index((invoice, refundable))] = (updated, refundable)
            summary.add("invoice_updates", lid)
    if rng.random() < 0.05:
        pool = host.store.clients_of(lid)
        if pool:
            client = rng.choice(pool)
            phone = f"04{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
            host.save_client({"id": client["id"], "phone": phone})
            summary.add("client_updates", lid)


def _live_payments(
    host: RefHost,
    rng: random.Random,
    day: date,
    lid: str,
    created: list[tuple[Record, int | None]],
    summary: PracticeSummary,
) -> None:
    """Counter payments for today's invoices, then some of what customers still owe."""
    today = {invoice["id"] for invoice, _ in created}
    owed_by: dict[str, list[tuple[Record, Decimal]]] = defaultdict(list)
    for invoice, owed in host.store.outstanding(lid, before=day + timedelta(days=1)):
        owed_by[invoice["client_id"]].append((invoice, owed))
    for client_id, debts in owed_by.items():
        fresh = [(i, o) for i, o in debts if i["id"] in today]
        older = [(i, o) for i, o in debts if i["id"] not in today]
        paying = [d for d in fresh if rng.random() < 0.6]
        if older and rng.random() < 0.15:
            paying += older  # settles everything they owe: one payment, several invoices
        if not paying:
            continue
        amount = sum((o for _, o in paying), Decimal(0))
        method = _pick(rng, PAYMENT_METHODS)
        if method == "cash" and rng.random() < 0.1:
            amount = _overpaid(amount, rng)
            summary.add("overpayments", lid)
        host.record_payment(
            {
                "id": _uuid(rng),
                "location_id": lid,
                "client_id": client_id,
                "paid_date": day.isoformat(),
                "amount": money(amount),
                "method": method,
                "allocations": [{"invoice_id": i["id"], "amount": money(o)} for i, o in paying],
            }
        )
        summary.add("payments", lid)
        if len(paying) > 1:
            summary.add("split_payments", lid)
    if rng.random() < 0.03:
        pool = host.store.clients_of(lid)
        if pool:
            host.record_payment(
                {
                    "id": _uuid(rng),
                    "location_id": lid,
                    "client_id": rng.choice(pool)["id"],
                    "paid_date": day.isoformat(),
                    "amount": "100.00",
                    "method": "bank_transfer",
                    "allocations": [],
                }
            )
            summary.add("payments", lid)
            summary.add("overpayments", lid)


_FIRST_KINDS: Final = frozenset({"clients", "invoices", "credit_notes", "payments"})


def _stream_key(sequences: Mapping[str, int]) -> dict[str, int]:
    """The numbering a random stream is keyed by: the first four kinds always, the money-flow
    kinds (payouts, deposits, refunds) once the practice has any, so a practice without them
    draws exactly the stream it drew before they existed."""
    return {k: v for k, v in sequences.items() if k in _FIRST_KINDS or v}


def day_rng(seed: int, day: date, sequences: Mapping[str, int] | None = None) -> random.Random:
    """The random stream of one simulated ``day``: its own for every (seed, date) pair, and for
    the host's numbering at the start of that day (``sequences``: the highest number per kind).

    The numbering is part of the key so that living through a day the practice has already lived
    through (a script run twice on one data dir) makes new records instead of repeating ids; it
    is the same however a span of days is split into calls. A string seed is hashed with SHA-512
    by :class:`random.Random`, so the stream is the same in every process (``PYTHONHASHSEED``
    plays no part) and unrelated to ``random.Random(seed)``."""
    numbering = ",".join(f"{k}={v}" for k, v in sorted(_stream_key(sequences or {}).items()))
    return random.Random(f"simulated-day:{seed}:{day.isoformat()}:{numbering}")


def simulate_days(
    host: RefHost,
    from_date: date,
    to_date: date,
    seed: int = 0,
    per_day: int | None = None,
    advance_clock: bool = True,
    money_flows: bool = False,
) -> PracticeSummary:
    """Run :func:`live_day` for every day from ``from_date`` to ``to_date`` inclusive.

    Each day draws from its own stream, derived from ``seed`` and the date: a practice that lives
    through a span in several calls (a demo run again with a later ``--today`` each time) makes
    new records with new ids every day, where one stream restarted at every call repeated the
    first call's ids on the first day of the next (``invoice id … already exists``). The same
    seed, days and starting practice still give the same records, however the span is split.

    :param advance_clock: if the host has a :class:`ManualClock`, move it (forward only) to 18:00
        of each day at the first location before that day's records, so ``updated_at`` and the
        plugins' view of "now" follow the simulated days.
    :param money_flows: each day's payouts, deposits, refunds and vouchers too (see
        :func:`live_day`).
    """
    summary = PracticeSummary()
    day = from_date
    while day <= to_date:
        rng = day_rng(seed, day, {kind: host.store.max_number(kind) for kind in KINDS})
        if advance_clock and isinstance(host.clock, ManualClock) and host.locations():
            tz = ZoneInfo(host.locations()[0]["timezone"])
            evening = datetime(day.year, day.month, day.day, 18, 0, tzinfo=tz)
            if evening > host.clock.now():
                host.clock.set(evening)
        summary.merge(live_day(host, day, rng, per_day=per_day, money_flows=money_flows))
        day += timedelta(days=1)
    return summary
