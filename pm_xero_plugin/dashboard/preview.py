"""Preview before the irreversible step: what a start date would send to Xero.

Once the start date has passed and data has synced it can no longer move later, and back-syncing
a period someone already typed into Xero by hand creates duplicates. So before the admin presses
"Start syncing data" this module answers, per organisation and record kind: how many records and
what totals the chosen date would send, how many of them Xero *already has by number* (those are
linked by the sender's look-up, not created again – the duplicate warning turned into a number –
unless another document holds the number: a clash, which will fail, listed with both sides),
and which records in the window would be *held* because the invoice they pay is dated before the
start date.

Two callers, one function:

* the host's settings page, with the date the admin is choosing::

      from pm_xero_plugin.dashboard.preview import preview
      report = preview(None, host, date(2024, 7, 1))              # counts and totals only
      report = preview(engine, host, day, client=runtime.client,  # plus look-ups in Xero
                       connection_for=runtime.connection_for)

  ``engine`` is optional: without it the host's saved settings decide each location's
  organisation and nothing is compared with the ledger; with it, records the add-on already
  synced are reported as ``already_synced`` and never counted as duplicates.
* ``pm-xero preview`` (:mod:`pm_xero_plugin.cli.ops`), which prints the same dictionary.

Memory stays bounded however long the history: records are streamed with
``host.iter_history(kind, location, since=start_date)`` and their numbers are looked up in chunks
of :data:`CHUNK`. A payment's (or credit note's) invoice date is read with one
``host.get_record`` per allocation – a primary-key read – rather than by remembering every
invoice of the window. Customers are de-duplicated in memory only for an organisation that
several locations share (a customer may belong to both). Totals are :class:`~decimal.Decimal`
sums reported as strings.

Return shape (JSON-compatible)::

    {"start_date": "2025-02-01", "location_id": null, "looked_up": true, "lookup_note": null,
     "organisations": [{
         "tenant_id": "T1" | null, "locations": ["syd"], "currencies": ["AUD"],
         "kinds": {"contact": {"count": 3, "already_synced": 0, "already_in_xero": 1},
                   "invoice": {"count": 5, "total": "550.00", "first_date": "2025-02-01",
                               "last_date": "2025-02-20", "already_synced": 0,
                               "already_in_xero": 2},
                   "credit_note": {…}, "allocation": {…}, "payment": {…}, "overpayment": {…},
                   "deposit": {…}, "deposit_allocation": {…}, "credit_note_refund": {…},
                   "overpayment_refund": {…}, "deposit_refund": {…}, "payout_fee": {…},
                   "payout": {…}},
         "money_flows": {"payouts": {"count": 2, "total": "129.10", "first_date": "…",
                                     "last_date": "…"},
                         "deposits": {…}, "refunds": {…}},
         "held": [{"kind": "payment", "gate": "invoice_before_start", "count": 1,
                   "total": "40.00", "reason": "…"}],
         "clashes": [{"kind": "invoice", "number": "INV121",
                      "message": "invoice INV121 is already in Xero for Maya Lee (13.57, …); "
                                 "ours is for Rohan White (500.00, …)"}],
         "contact_conflicts": {"count": 1, "records": [...]},   # as in sync_status (ledger)
         "warnings": ["Xero already has 2 invoices numbered like these: …"]}],
     "warnings": [...every organisation's warnings...]}

``already_in_xero`` is ``null`` when no look-up was made (not connected, or no client given).
Of those, ``clashes`` are numbers Xero holds for *another* document (another customer, total or
date, judged by the sender's own rule, :func:`pm_xero_plugin.xero.finders.decide`): those
records will fail when sent, so they are listed with both sides before anything is sent.
``money_flows`` counts the host's payouts, deposits and refunds of the window (a payout's
total is what reached the bank, its fees are the ``payout_fee`` kind's); their rows are in
``kinds`` as the engine makes them (:mod:`pm_xero_plugin.core.items`) and in ``held`` when
they would wait: a deposit's application to an invoice is dated as Xero dates it (the later
of the two), and held when the deposit (``credit_before_start``) or the invoice is before
the start date; a refund is held when its credit is; a payout when a card payment it settles
is (``payments``: it would wait for ever).
Payments are counted per allocation (one Xero payment per invoice paid); contacts are every
customer of the organisation's locations (contact sync sends them all, not only those with
documents in the window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.items import (
    Item,
    credit_note_items,
    deposit_items,
    payment_items,
    payout_items,
    refund_item,
    refund_source,
)
from pm_xero_plugin.dashboard.status import contact_conflicts
from pm_xero_plugin.inputs.settings import Prefixes, Settings, parse_settings
from pm_xero_plugin.mapping.config import MappingError
from pm_xero_plugin.mapping.values import xero_number
from pm_xero_plugin.xero.client import waiting_for_limits
from pm_xero_plugin.xero.finders import (
    CLASH_HINT,
    Clash,
    Wanted,
    decide,
    describe_clash,
    find_by_key,
)
from pm_xero_plugin.xero.kinds import MONEY_FLOW_GROUPS, REFUND_KINDS, SEND_ORDER, KeyLookups

if TYPE_CHECKING:
    from hookspecs.host import HistoryKind, Host
    from pm_xero_plugin.core.engine import Engine

__all__ = ["CHUNK", "PREVIEW_KINDS", "preview"]

CHUNK = 200
"""Numbers per ledger/Xero look-up batch (the client splits further where Xero needs it)."""

CLASHES_SHOWN = 50
"""Clashes listed with both sides per organisation (all are counted)."""

PREVIEW_KINDS = SEND_ORDER

_HELD_REASON = (
    "paid to an invoice dated before the start date: Xero would have no invoice to pay. Choose "
    "an earlier start date, or send those invoices too ('include parent invoice')"
)
_HELD_REASONS = {
    "invoice_before_start": _HELD_REASON,
    "credit_before_start": (
        "drawn on a credit (a deposit, an overpayment or a credit note) dated before the start "
        "date: Xero would have no credit to take it from. Choose an earlier start date, or send "
        "those credits too ('include parent')"
    ),
    "payments": (
        "settles card payments dated before the start date (or unknown to Pet Manager's "
        "history): they are never sent, so the payout would wait for ever and the clearing "
        "account would not return to zero. Choose a start date on or before its first payment"
    ),
}
"""Why records in the window would be held, by the gate they would wait behind."""

_NAMES = {
    "contact": "contacts",
    "invoice": "invoices",
    "credit_note": "credit notes",
    "allocation": "credit note allocations",
    "payment": "payments",
    "overpayment": "overpayments",
    "deposit": "deposits",
    "deposit_allocation": "deposit allocations",
    "credit_note_refund": "refunds of credit notes",
    "overpayment_refund": "refunds of overpayments",
    "deposit_refund": "refunds of deposits",
    "payout_fee": "payout fees",
    "payout": "payouts",
}

_SOURCE_HISTORY: dict[str, tuple[HistoryKind, str]] = {
    "credit_note_refund": ("credit_notes", "date"),
    "overpayment_refund": ("payments", "paid_date"),
    "deposit_refund": ("deposits", "paid_date"),
}
"""Where a refund's credit is in the host's history, and the field that dates it."""


@dataclass
class _Kind:
    """Running numbers for one kind in one organisation."""

    count: int = 0
    total: Decimal = Decimal(0)
    first_date: str | None = None
    last_date: str | None = None
    already_synced: int = 0
    already_in_xero: int = 0
    clashes: int = 0
    """Of ``already_in_xero``: numbers another document holds in Xero (those rows will fail)."""
    has_total: bool = True

    def add(self, amount: Decimal | None, day: str | None) -> None:
        self.count += 1
        if amount is not None:
            self.total += amount
        if day:
            self.first_date = day if self.first_date is None else min(self.first_date, day)
            self.last_date = day if self.last_date is None else max(self.last_date, day)

    def totals(self) -> dict[str, Any]:
        """How many, what they come to, first and last date (a money flow's line)."""
        return {
            "count": self.count,
            "total": f"{self.total:.2f}",
            "first_date": self.first_date,
            "last_date": self.last_date,
        }

    def as_dict(self, looked_up: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count}
        if self.has_total:
            out["total"] = f"{self.total:.2f}"
            out["first_date"] = self.first_date
            out["last_date"] = self.last_date
        out["already_synced"] = self.already_synced
        out["already_in_xero"] = self.already_in_xero if looked_up else None
        out["clashes"] = self.clashes if looked_up else None
        return out


@dataclass
class _Org:
    """One organisation's preview, with the pending look-up buffers."""

    tenant_id: str | None
    locations: list[str] = field(default_factory=list)
    currencies: set[str] = field(default_factory=set)
    kinds: dict[str, _Kind] = field(default_factory=dict)
    held: dict[tuple[str, str], _Kind] = field(default_factory=dict)
    """(kind, gate) -> the records of the window that would wait behind that gate."""
    flows: dict[str, _Kind] = field(default_factory=dict)
    """Money flow (``payouts``, ``deposits``, ``refunds``) -> its host records in the window:
    how many, what they come to (a payout: what reached the bank), first and last date."""
    pending: dict[str, list[tuple[str, str, Mapping[str, Any] | None]]] = field(
        default_factory=dict
    )
    """kind -> [(ledger host id, Xero number or reference, the document's record)] not looked
    up yet (the record of an invoice or credit note: what Xero's document is judged by)."""
    clashes: list[dict[str, str]] = field(default_factory=list)
    """Numbers Xero holds for another document (the first :data:`CLASHES_SHOWN`), both sides."""
    seen_clients: set[str] | None = None
    """Customer ids already counted (only for organisations with several locations)."""

    def kind(self, name: str) -> _Kind:
        if name not in self.kinds:
            self.kinds[name] = _Kind(has_total=name != "contact")
        return self.kinds[name]

    def hold(self, kind: str, gate: str, amount: Decimal | None, day: str | None) -> None:
        """Count a row of the window that would wait behind ``gate`` (not sent)."""
        self.held.setdefault((kind, gate), _Kind()).add(amount, day)

    def flow(self, name: str) -> _Kind:
        if name not in self.flows:
            self.flows[name] = _Kind()
        return self.flows[name]


def _rows_of(
    fan_out: Callable[[dict[str, Any], str], list[Item]], record: Mapping[str, Any], org: _Org
) -> list[Item]:
    """The ledger rows the engine makes for ``record`` (:mod:`pm_xero_plugin.core.items`: the
    one definition of what a credit note or payment becomes); none for a record too malformed
    to fan out, which the add-on would reject rather than send."""
    try:
        return fan_out(dict(record), org.tenant_id or "")
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return []


def _deposit_rows(
    payload: dict[str, Any], tenant: str, *, invoice_dates: Mapping[str, str | None]
) -> list[Item]:
    return deposit_items(payload, tenant, invoice_dates)


def _refund_rows(payload: dict[str, Any], tenant: str) -> list[Item]:
    return [refund_item(payload, tenant)]


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


class _Preview:
    def __init__(
        self,
        engine: Engine | None,
        host: Host,
        settings: Settings | None,
        start: date,
        client: KeyLookups | None,
        connection_for: Callable[[str], str | None] | None,
    ) -> None:
        self.engine = engine
        self.host = host
        self.settings = settings
        self.start = start
        self.client = client
        self.connection_for = connection_for
        prefixes = settings.prefixes if settings is not None else Prefixes()
        self.prefix = {
            "contact": prefixes.client,
            "invoice": prefixes.invoice,
            "credit_note": prefixes.credit_note,
            "payment": prefixes.payment,
            "overpayment": prefixes.payment,
            "allocation": prefixes.credit_note,
            "deposit": prefixes.deposit,
            "deposit_allocation": prefixes.deposit,
            "payout_fee": prefixes.payout,
            "payout": prefixes.payout,
            **dict.fromkeys(REFUND_KINDS, prefixes.refund),
        }
        self.orgs: dict[str | None, _Org] = {}
        self.notes: list[str] = []

    # -- look-ups ---------------------------------------------------------------------------------

    def connection(self, tenant: str | None) -> str | None:
        if tenant is None or self.client is None or self.connection_for is None:
            return None
        try:
            return self.connection_for(tenant)
        except LookupError:
            return None

    def queue(
        self,
        org: _Org,
        kind: str,
        host_id: str,
        number: Any,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        """Note a record to compare with the ledger and Xero under the number the sender would
        give it (:func:`~pm_xero_plugin.mapping.values.xero_number`); flush a full chunk."""
        try:
            key = xero_number(self.prefix[kind], number)
        except MappingError:
            return  # no usable number: the sender would refuse it, there is nothing to look up
        buffer = org.pending.setdefault(kind, [])
        buffer.append((host_id, key, record))
        if len(buffer) >= CHUNK:
            self.flush(org, kind)

    def flush(self, org: _Org, kind: str) -> None:
        buffer = org.pending.pop(kind, [])
        if not buffer or org.tenant_id is None:
            return
        tenant = org.tenant_id
        unsent = buffer
        if self.engine is not None:
            facts = self.engine.ledger.facts((kind, host_id, tenant) for host_id, _, _ in buffer)
            synced = {key[1] for key, f in facts.items() if f.state == "synced"}
            org.kind(kind).already_synced += sum(1 for host_id, _, _ in buffer if host_id in synced)
            unsent = [entry for entry in buffer if entry[0] not in synced]
        key = self.connection(tenant)
        if key is None or self.client is None or not unsent:
            return
        # The sender's own look-up by natural key (an allocation has none: nothing found).
        with waiting_for_limits():  # someone waits for this answer: wait for Xero, and say so
            found = find_by_key(self.client, tenant, key, kind, (n for _, n, _ in unsent))
        for _, number, record in unsent:
            if number not in found:
                continue
            org.kind(kind).already_in_xero += 1
            clash = self.clash(org, kind, number, record, found[number])
            if clash is not None:
                org.kind(kind).clashes += 1
                if len(org.clashes) < CLASHES_SHOWN:
                    org.clashes.append(clash)

    def clash(
        self,
        org: _Org,
        kind: str,
        number: str,
        record: Mapping[str, Any] | None,
        hits: list[dict[str, Any]],
    ) -> dict[str, str] | None:
        """Both sides when Xero's document under ``number`` is not provably this record (the
        sender's own rule, :func:`~pm_xero_plugin.xero.finders.decide`): that row will fail."""
        if record is None:
            return None
        client_id = str(record.get("client_id") or "")
        customer = self.host.get_record("clients", client_id) if client_id else None
        contact_id = (
            self.engine.ledger.xero_id("contact", client_id, org.tenant_id or "")
            if self.engine is not None and client_id
            else None
        )
        try:
            contact_number = xero_number(self.prefix["contact"], (customer or {}).get("number"))
        except MappingError:
            contact_number = None
        wanted = Wanted(
            0,
            number,
            {
                "Contact": {"ContactID": contact_id} if contact_id else {},
                "Date": record.get("date"),
            },
            total=None if record.get("total") is None else str(record.get("total")),
            contact_number=contact_number,
        )
        outcome = decide(kind, wanted, hits)
        if not isinstance(outcome, Clash):
            return None
        name = " ".join(
            str((customer or {}).get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        return {
            "kind": kind,
            "number": number,
            "message": describe_clash(
                kind,
                number,
                outcome.theirs,
                our_customer=name or None,
                our_total=record.get("total"),
                our_date=record.get("date"),
            ),
        }

    # -- streaming the window ---------------------------------------------------------------------

    def org_for(self, location_id: str) -> _Org:
        tenant = self.settings.tenant_for(location_id) if self.settings else None
        tenant = tenant or None
        if tenant not in self.orgs:
            self.orgs[tenant] = _Org(tenant)
        org = self.orgs[tenant]
        if location_id not in org.locations:
            org.locations.append(location_id)
        return org

    def run(self, locations: Sequence[Mapping[str, Any]]) -> None:
        for loc in locations:
            self.org_for(str(loc["id"]))
        for org in self.orgs.values():
            if len(org.locations) > 1:
                org.seen_clients = set()
        for loc in locations:
            location_id = str(loc["id"])
            org = self.org_for(location_id)
            if loc.get("currency"):
                org.currencies.add(str(loc["currency"]))
            self.contacts(org, location_id)
            self.documents(org, location_id, "invoices", "invoice")
            self.documents(org, location_id, "credit_notes", "credit_note")
            self.payments(org, location_id)
            self.deposits(org, location_id)
            self.refunds(org, location_id)
            self.payouts(org, location_id)
        for org in self.orgs.values():
            for kind in list(org.pending):
                self.flush(org, kind)

    def contacts(self, org: _Org, location_id: str) -> None:
        for client in self.host.iter_history("clients", location_id, None):
            client_id = str(client.get("id"))
            if org.seen_clients is not None:
                if client_id in org.seen_clients:
                    continue
                org.seen_clients.add(client_id)
            org.kind("contact").add(None, None)
            self.queue(org, "contact", client_id, client.get("number"))

    def documents(self, org: _Org, location_id: str, history: HistoryKind, kind: str) -> None:
        """Count invoices or credit notes in the window, and the allocation rows the engine
        makes for a credit note against an invoice (held when that invoice is before it)."""
        for record in self.host.iter_history(history, location_id, self.start):
            if kind == "invoice" and record.get("status") == "voided":
                continue  # voided before it ever reached Xero: excluded, never sent
            day = str(record.get("date") or "") or None
            amount = _money(record.get("total"))
            if kind == "invoice":
                org.kind(kind).add(amount, day)
                self.queue(org, kind, str(record.get("id")), record.get("number"), record)
                continue
            for item in _rows_of(credit_note_items, record, org):
                if item.kind == "allocation" and self.parent_before_start(str(item.dep_invoice)):
                    org.hold("allocation", "invoice_before_start", amount, day)
                    continue
                org.kind(item.kind).add(amount, day)
                document = record if item.kind == "credit_note" else None
                self.queue(org, item.kind, str(item.host_id), item.number, document)

    def parent_before_start(self, invoice_id: str) -> bool:
        """Whether a payment's (or credit note's) invoice is dated before the start date."""
        invoice = self.host.get_record("invoices", invoice_id)
        dated = str(invoice.get("date") or "") if invoice else ""
        return bool(dated) and dated < self.start.isoformat()

    def payments(self, org: _Org, location_id: str) -> None:
        """Count the rows the engine makes for each payment in the window: one per invoice it
        pays (held when that invoice is before the window) and an overpayment for the rest."""
        for payment in self.host.iter_history("payments", location_id, self.start):
            day = str(payment.get("paid_date") or "") or None
            amounts = [_money(a.get("amount")) for a in payment.get("allocations") or []]
            allocated = sum((amount or Decimal(0) for amount in amounts), Decimal(0))
            per_allocation = iter(amounts)  # payment rows come in allocation order
            for item in _rows_of(payment_items, payment, org):
                if item.kind == "overpayment":
                    received = _money(payment.get("amount")) or Decimal(0)
                    org.kind("overpayment").add(received - allocated, day)
                    self.queue(org, "overpayment", str(item.host_id), item.number)
                    continue
                amount = next(per_allocation, None)
                if self.parent_before_start(str(item.dep_invoice)):
                    org.hold("payment", "invoice_before_start", amount, day)
                    continue
                org.kind("payment").add(amount, day)
                self.queue(org, "payment", item.host_id, item.number)

    def before_start(self, day: Any) -> bool:
        """Whether a host date falls before the start date (an unknown one does not)."""
        return bool(day) and str(day) < self.start.isoformat()

    def deposits(self, org: _Org, location_id: str) -> None:
        """Count each deposit taken in the window, and the row per invoice it is applied to
        dated (as Xero dates it) in the window – read over every deposit, since one taken
        before the start date for a stay invoiced after it has its allocation in the window,
        held (``credit_before_start``): the deposit itself is not sent."""
        for deposit in self.host.iter_history("deposits", location_id, None):
            paid = str(deposit.get("paid_date") or "") or None
            allocations = deposit.get("allocations") or []
            if self.before_start(paid) and not allocations:
                continue
            dates = {
                str(a.get("invoice_id")): self.invoice_date(str(a.get("invoice_id")))
                for a in allocations
            }
            amounts = {str(a.get("invoice_id")): _money(a.get("amount")) for a in allocations}
            for item in _rows_of(partial(_deposit_rows, invoice_dates=dates), deposit, org):
                if item.kind == "deposit":
                    if not self.before_start(paid):
                        org.kind("deposit").add(_money(deposit.get("amount")), paid)
                        org.flow("deposits").add(_money(deposit.get("amount")), paid)
                        self.queue(org, "deposit", item.host_id, item.number)
                    continue
                invoice = str(item.dep_invoice)
                self.deposit_allocation(org, item, paid, dates.get(invoice), amounts.get(invoice))

    def deposit_allocation(
        self,
        org: _Org,
        item: Item,
        paid: str | None,
        invoice_date: str | None,
        amount: Decimal | None,
    ) -> None:
        """One deposit's application to an invoice, dated the later of the two: out of the
        window, held (its deposit, or its invoice, is before the start date) or sent."""
        day = item.doc_date
        if self.before_start(day):
            return
        if self.before_start(paid):
            org.hold(item.kind, "credit_before_start", amount, day)
        elif self.before_start(invoice_date):
            org.hold(item.kind, "invoice_before_start", amount, day)
        else:
            org.kind(item.kind).add(amount, day)
            self.queue(org, item.kind, item.host_id, item.number)

    def invoice_date(self, invoice_id: str) -> str | None:
        """An invoice's date from the host (one primary-key read), ``None`` when unknown."""
        invoice = self.host.get_record("invoices", invoice_id)
        return str(invoice.get("date") or "") or None if invoice else None

    def refunds(self, org: _Org, location_id: str) -> None:
        """Count each refund in the window as the kind its credit gives it, held when that
        credit (credit note, overpaid payment, deposit) is dated before the start date."""
        for refund in self.host.iter_history("refunds", location_id, self.start):
            day = str(refund.get("paid_date") or "") or None
            amount = _money(refund.get("amount"))
            for item in _rows_of(_refund_rows, refund, org):
                org.flow("refunds").add(amount, day)
                history, dated_by = _SOURCE_HISTORY[item.kind]
                _, source_id = refund_source(refund)
                source = self.host.get_record(history, source_id)
                if source is not None and self.before_start(source.get(dated_by)):
                    org.hold(item.kind, "credit_before_start", amount, day)
                    continue
                org.kind(item.kind).add(amount, day)
                self.queue(org, item.kind, item.host_id, item.number)

    def payouts(self, org: _Org, location_id: str) -> None:
        """Count each payout in the window (its transfer: what reached the bank; its fees
        row when the processor kept fees), held when a card payment it settles is dated
        before the start date or unknown (never sent: the payout would wait for ever)."""
        for payout in self.host.iter_history("payouts", location_id, self.start):
            day = str(payout.get("paid_date") or "") or None
            amounts = {
                "payout": _money(payout.get("amount")),
                "payout_fee": _money(payout.get("fees")),
            }
            items = _rows_of(payout_items, payout, org)
            if not items:
                continue
            org.flow("payouts").add(amounts["payout"], day)
            stuck = self.settles_before_start(payout)
            for item in items:
                if stuck:
                    org.hold(item.kind, "payments", amounts[item.kind], day)
                    continue
                org.kind(item.kind).add(amounts[item.kind], day)
                self.queue(org, item.kind, item.host_id, item.number)

    def settles_before_start(self, payout: Mapping[str, Any]) -> bool:
        """Whether a payment the payout settles is dated before the start date, or unknown to
        the host (one primary-key read per payment)."""
        for payment_id in payout.get("payment_ids") or []:
            payment = self.host.get_record("payments", str(payment_id))
            if payment is None or self.before_start(payment.get("paid_date")):
                return True
        return False

    # -- the answer -------------------------------------------------------------------------------

    def report(self, location_id: str | None) -> dict[str, Any]:
        organisations = []
        every_warning: list[str] = []
        for tenant, org in sorted(self.orgs.items(), key=lambda item: item[0] or ""):
            looked_up = self.connection(tenant) is not None
            warnings: list[str] = []
            if tenant is None:
                warnings.append(
                    f"location(s) {', '.join(org.locations)} are not linked to a Xero "
                    "organisation: their records would wait until one is chosen"
                )
            if looked_up:
                warnings += _found_warnings(org)
            conflicts = [
                c
                for c in (contact_conflicts(self.engine, location_id) if self.engine else [])
                if c["tenant_id"] == tenant
            ]
            if conflicts:
                warnings.append(
                    f"{len(conflicts)} customers are held, and their documents wait: Xero gives "
                    "their names to contacts without our contact number, which are not adopted "
                    "silently. Link each one, or create ours under a distinct name (see "
                    "contact_conflicts: pm-xero resolve ROW --link-contact, pm-xero retry ROW "
                    "--distinct-name)"
                )
            held = [
                {
                    "kind": kind,
                    "gate": gate,
                    "count": numbers.count,
                    "total": f"{numbers.total:.2f}",
                    "reason": _HELD_REASONS[gate],
                }
                for (kind, gate), numbers in sorted(org.held.items())
            ]
            organisations.append(
                {
                    "tenant_id": tenant,
                    "locations": org.locations,
                    "currencies": sorted(org.currencies),
                    "looked_up": looked_up,
                    "kinds": {
                        kind: (org.kinds.get(kind) or _Kind(has_total=kind != "contact")).as_dict(
                            looked_up
                        )
                        for kind in PREVIEW_KINDS
                    },
                    "money_flows": {
                        flow: (org.flows.get(flow) or _Kind()).totals()
                        for flow in MONEY_FLOW_GROUPS
                    },
                    "held": held,
                    "clashes": org.clashes if looked_up else None,
                    "contact_conflicts": {"count": len(conflicts), "records": conflicts},
                    "warnings": warnings,
                }
            )
            every_warning += warnings
        looked_up_all = bool(organisations) and all(o["looked_up"] for o in organisations)
        note = None
        if not looked_up_all:
            note = (
                "not looked up in Xero: "
                + (
                    "no Xero connection was given"
                    if self.client is None
                    else "some organisations are not connected"
                )
                + "; numbers already in Xero are unknown"
            )
        return {
            "start_date": self.start.isoformat(),
            "location_id": location_id,
            "looked_up": looked_up_all,
            "lookup_note": note,
            "organisations": organisations,
            "warnings": every_warning,
        }


def _found_warnings(org: _Org) -> list[str]:
    """What the look-ups found, in words: numbers that will be linked, and clashes that will
    fail (with both sides and the ways out) – before anything is sent."""
    warnings: list[str] = []
    for kind in PREVIEW_KINDS:
        found = org.kinds.get(kind)
        if found is None:
            continue
        linked = found.already_in_xero - found.clashes
        if linked:
            warnings.append(
                f"Xero already has {linked} {_NAMES[kind]} numbered like these: they will be "
                "linked, not duplicated; if they were entered by hand for this period, "
                "choose a later start date"
            )
        if found.clashes:
            shown = [c["message"] for c in org.clashes if c["kind"] == kind]
            warnings.append(
                f"{found.clashes} {_NAMES[kind]} will fail: Xero holds their numbers for other "
                f"documents ({'; '.join(shown[:3])}{' …' if found.clashes > 3 else ''}). "
                + CLASH_HINT
            )
    return warnings


def preview(
    engine: Engine | None,
    host: Host,
    start_date: date | None,
    *,
    location_id: str | None = None,
    client: KeyLookups | None = None,
    connection_for: Callable[[str], str | None] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``start_date`` would send to Xero (see the module docstring for the shape).

    :param engine: the add-on's engine (its settings and ledger), or ``None`` (the host's saved
        settings; no ledger comparison).
    :param host: the host (:class:`hookspecs.host.Host`): locations, streamed history, settings.
    :param start_date: the date being considered; ``None`` = the saved start date.
    :param location_id: one location, or every location (``None``).
    :param client: Xero look-ups (a :class:`~pm_xero_plugin.xero.client.XeroClient`); ``None`` =
    none.
    :param connection_for: the connection key (token set) that reaches a tenant, or ``None``
        when it is not connected (``XeroRuntime.connection_for``).
    :param settings: settings being edited on the settings page (unsaved), instead of the saved
        ones: the tenant mapping and prefixes come from here.
    :raises ValueError: no start date given or saved, or an unknown location.
    """
    parsed: Settings | None
    locations = list(host.locations())
    if settings is not None:
        parsed, errors = parse_settings(settings, [str(loc["id"]) for loc in locations])
        if parsed is None:
            raise ValueError("settings are not valid: " + "; ".join(errors))
    elif engine is not None:
        parsed = engine.settings
    else:
        parsed, _ = parse_settings(host.settings("xero") or {})
    start = start_date or (parsed.start_date if parsed is not None else None)
    if start is None:
        raise ValueError("no start date: give one, or save one in the settings first")
    if location_id is not None:
        locations = [loc for loc in locations if str(loc["id"]) == location_id]
        if not locations:
            raise ValueError(f"unknown location {location_id!r}")
    run = _Preview(engine, host, parsed, start, client, connection_for)
    run.run(locations)
    return run.report(location_id)
