"""Intake: a host record validated, and written into the ledger as rows, each with its gate.

A record is validated (a record the add-on cannot read is kept as ``rejected``, with its
reasons, for the dashboard), its location's organisation found, its contact made sure of
first, and its rows (:mod:`pm_xero_plugin.core.items`) written in one durable transaction with
the gate the rules give each (:func:`pm_xero_plugin.core.rules.gates_for`). A new version of a
record the ledger has goes through the edit rules: not sent yet, it is simply re-gated; in
flight, an update follows; in Xero, it is sent as an update – or failed, with the reason, where
Xero will not take it (a payment, an invoice already paid). Back-syncs and contact syncs
(:mod:`pm_xero_plugin.core.history`) write through the same :meth:`Intake.write`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from hookspecs.host import HistoryKind
from pm_xero_plugin.core import rules
from pm_xero_plugin.core.context import EngineContext
from pm_xero_plugin.core.gates import dep_facts, dep_keys, tell_waiting_on_rejected
from pm_xero_plugin.core.items import (
    Item,
    contact_item,
    credit_note_items,
    deposit_items,
    document_item,
    item_facts,
    new_row,
    payment_items,
    payout_items,
    refund_item,
    refund_source,
    text_hash,
)
from pm_xero_plugin.core.regate import PAGE, ContactWanted, Regater
from pm_xero_plugin.inputs.records import capped_raw, payload_json, validate_record
from pm_xero_plugin.ledger import LIVE, Facts, NewRow, Row
from pm_xero_plugin.ledger.states import Gate, State
from pm_xero_plugin.xero.kinds import KINDS, REFUND_KINDS, edit_refusal

__all__ = ["Intake", "version_moment"]

_SOURCE_RECORDS: dict[str, tuple[HistoryKind, str]] = {
    "credit_note": ("credit_notes", "credit_note"),
    "overpayment": ("payments", "payment"),
    "payment": ("payments", "payment"),
    "deposit": ("deposits", "deposit"),
    "refund": ("refunds", "refund"),
}
"""A parent kind's host history kind and record kind (:meth:`Intake.ensure_source`)."""

_RECORD_KIND = {
    "overpayment": "payment",
    "deposit_allocation": "deposit",
    "payout_fee": "payout",
    **dict.fromkeys(REFUND_KINDS, "refund"),
}
"""The host record a row of each kind was made from (where a rejected version is kept)."""

_REMOVED = "removed from the"
"""How the detail of a row excluded because its record no longer makes it starts: such a row
comes back when the record makes it again (an admin's exclusion never does)."""

_CLEARED_AGAINST = (
    "payment",
    "allocation",
    "overpayment",
    "deposit_allocation",
    "credit_note_refund",
)
"""The rows an edit of their invoice or credit note holds back until it reaches Xero."""

log = logging.getLogger("pm_xero_plugin")

_NOT_SENT = rules.DepFacts(False)
"""A dependency the ledger has no row for yet (it is being written with its dependant)."""


class Intake:
    """Host records in, ledger rows out.

    :param regater: re-gates the payments cleared against a document that was edited, and
        the rows a gate opened for (on the host's thread: see :meth:`regate`).
    """

    def __init__(self, ctx: EngineContext, regater: Regater) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.regater = regater
        self.any_rejected = any(c["state"] == State.REJECTED for c in self.ledger.counts())
        """Whether the ledger holds a rejection (a valid version then supersedes it)."""

    # -- re-gating on the host's thread -------------------------------------------------------

    def regate(self, page_of: Callable[[int], list[Facts]]) -> None:
        """:meth:`Regater.regate` on the host's thread: the contacts the gates wait for and the
        ledger has no row of are then read from the host and written."""
        self.ensure_contacts(self.regater.regate(page_of))

    def reevaluate(self, tenant_id: str | None = None) -> None:
        """Recompute the gate of every row still on its way (of one organisation, or all)."""
        self.regate(self.regater.on_their_way(tenant_id))

    def regate_waiting(self, gate: Gate, *, tenant_id: str | None = None) -> None:
        """Recompute the gates of the rows of an organisation waiting behind ``gate``."""
        self.regate(self.regater.waiting_behind(gate, tenant_id=tenant_id))

    def host_tick(self) -> None:
        """:meth:`Regater.tick` on the host's thread (a hook): also write the contacts a tick
        on the worker's thread found missing."""
        self.regater.tick()
        wanted = self.regater.contacts_wanted
        while wanted:
            self.ensure_contact(*wanted.pop())

    def ensure_contacts(self, wanted: Iterable[ContactWanted]) -> None:
        """:meth:`ensure_contact` for each (customer, organisation, location)."""
        for client_id, tenant, location_id in wanted:
            self.ensure_contact(client_id, tenant, location_id)

    # -- recording host events ----------------------------------------------------------------

    def record_client(self, raw: Any) -> None:
        """A customer was created or changed: its contact row in its home organisation, and the
        new details for every organisation that already has it."""
        self.host_tick()
        payload, errors = self.validate("client", raw)
        if payload is None:
            self.reject("contact", raw, errors)
            return
        text = payload_json(payload)
        home_tenant = self.ctx.tenant_for(payload["location_id"])
        items = [contact_item(payload, text, home_tenant, payload["location_id"])]
        for row in self.ledger.rows_for("contact", payload["id"]):
            if row.tenant_id != home_tenant and row.state != State.REJECTED:
                items.append(contact_item(payload, text, row.tenant_id, row.location_id))
        self.write(items, event="updated", live=True)

    def record_invoice(self, raw: Any, event: str = "created") -> None:
        """An invoice was created, updated or voided (``event``)."""
        self.host_tick()
        payload, errors = self.validate("invoice", raw)
        if payload is None:
            self.reject("invoice", raw, errors)
            return
        if event == "voided" or payload.get("status") == "voided":
            event = "voided"
        tenant = self.ctx.tenant_for(payload["location_id"])
        self.ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self.write([document_item("invoice", payload, tenant)], event=event, live=True)

    def record_credit_note(self, raw: Any) -> None:
        """A credit note was issued: its row, and its allocation row when it is against an
        invoice (the allocation waits for both the credit note and the invoice)."""
        self.host_tick()
        payload, errors = self.validate("credit_note", raw)
        if payload is None:
            self.reject("credit_note", raw, errors)
            return
        tenant = self.ctx.tenant_for(payload["location_id"])
        self.ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self.write(credit_note_items(payload, tenant), event="created", live=True)

    def record_payment(self, raw: Any) -> None:
        """A payment: one row per invoice it pays, and one for an overpayment (the excess)."""
        self.host_tick()
        payload, errors = self.validate("payment", raw)
        if payload is None:
            self.reject("payment", raw, errors)
            return
        tenant = self.ctx.tenant_for(payload["location_id"])
        items = payment_items(payload, tenant)
        if any(item.kind == "overpayment" for item in items):
            self.ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        self.write(items, event="created", live=True)
        self._drop_vanished_parts(payload["id"], {(i.kind, i.host_id) for i in items})

    def _drop_vanished(
        self,
        rows: Iterable[Row],
        noun: str,
        *,
        hint: str = "Remove it in Xero too (Xero cannot edit it), then resolve this.",
    ) -> None:
        """Rows a record no longer makes (a deposit recorded again without one of its
        allocations, a refund moved to another credit, a payout whose fees went): as a
        payment's part (:meth:`_drop_vanished_parts`), what is gone must not reach Xero. Not
        sent yet: excluded (and brought back should the record make it again). In Xero, which
        edits none of these: failed, telling the admin (``hint``) to remove it there."""
        for row in rows:
            if row.state in (State.EXCLUDED, State.REJECTED, State.FAILED, State.SENDING):
                continue  # in flight: the edit rules settle it when the send does
            if row.state == State.SYNCED or row.xero_id is not None:
                self.ledger.transition(
                    row.id,
                    State.FAILED,
                    message=f"{KINDS[row.kind].noun} {row.host_id} was removed from the {noun} "
                    f"in Pet Manager after it reached Xero ({row.xero_id})",
                    hint=hint,
                )
                continue
            self.ledger.transition(
                row.id, State.EXCLUDED, detail=f"{_REMOVED} {noun} in Pet Manager"
            )

    def record_deposit(self, raw: Any) -> None:
        """A deposit taken, or applied to invoices since: its prepayment row and a row per
        invoice it is applied to (a new allocation is a new row; the ones Xero has stay)."""
        self.host_tick()
        payload, errors = self.validate("deposit", raw)
        if payload is None:
            self.reject("deposit", raw, errors)
            return
        tenant = self.ctx.tenant_for(payload["location_id"])
        self.ensure_contact(payload["client_id"], tenant, payload["location_id"], live=True)
        items = self.deposit_items(payload, tenant)
        self.write(items, event="created", live=True)
        kept = {item.host_id for item in items if item.kind == "deposit_allocation"}
        self._drop_vanished(
            (
                row
                for row in self.ledger.rows_for_prefix("deposit_allocation", f"{payload['id']}:")
                if row.host_id not in kept and row.tenant_id == tenant
            ),
            "deposit",
        )

    def deposit_items(self, payload: dict[str, Any], tenant: str) -> list[Item]:
        """:func:`~pm_xero_plugin.core.items.deposit_items` with each invoice's date, from the
        ledger or (an invoice it has no row of) the host: an allocation is dated by it."""
        dates: dict[str, str | None] = {}
        for allocation in payload["allocations"]:
            invoice_id = allocation["invoice_id"]
            found = self.ledger.dep("invoice", invoice_id, tenant)
            if found is not None:
                dates[invoice_id] = found.doc_date
                continue
            record = self.ctx.host.get_record("invoices", invoice_id)
            dates[invoice_id] = str(record.get("date") or "") or None if record else None
        return deposit_items(payload, tenant, dates)

    def record_refund(self, raw: Any) -> None:
        """Money given back out of a credit note, an overpayment or a deposit: one row that
        waits for that credit (read from the host first when the ledger has none of it)."""
        self.host_tick()
        payload, errors = self.validate("refund", raw)
        if payload is None:
            self.reject("refund", raw, errors)
            return
        self.ensure_sources("refund", payload)
        tenant = self.ctx.tenant_for(payload["location_id"])
        item = refund_item(payload, tenant)
        self.write([item], event="created", live=True)
        self._drop_vanished(  # the refund now comes out of another credit: one refund, not two
            (
                row
                for kind in REFUND_KINDS
                if kind != item.kind
                for row in self.ledger.rows_for(kind, payload["id"])
                if row.tenant_id == tenant
            ),
            "credit it came out of",
        )

    def record_payout(self, raw: Any) -> None:
        """A card processor's payout: its fee and transfer rows, which go once every payment
        (and card refund) it settles is in Xero; those the ledger has no row of are read from
        the host first, so a payout never waits on a payment nobody will send."""
        self.host_tick()
        payload, errors = self.validate("payout", raw)
        if payload is None:
            self.reject("payout", raw, errors)
            return
        self.ensure_sources("payout", payload)
        tenant = self.ctx.tenant_for(payload["location_id"])
        items = payout_items(payload, tenant)
        self.write(items, event="created", live=True)
        if not any(item.kind == "payout_fee" for item in items):  # its fees went
            fee = self.ledger.find("payout_fee", payload["id"], tenant)
            self._drop_vanished([fee] if fee is not None else [], "payout's fees")

    def ensure_sources(self, kind: str, payload: Mapping[str, Any]) -> None:
        """:meth:`ensure_source` for every record a validated refund or payout draws on (a
        no-op for other kinds)."""
        tenant = self.ctx.tenant_for(payload["location_id"])
        if not tenant:
            return
        if kind == "refund":
            source_kind, source = refund_source(payload)
            self.ensure_source(rules.SOURCE_KIND[source_kind], source, tenant)
        elif kind == "payout":
            for payment_id in payload["payment_ids"]:
                self.ensure_source("payment", payment_id, tenant)
            for refund_id in payload.get("refund_ids") or ():
                self.ensure_source("refund", refund_id, tenant)

    def ensure_source(self, kind: str, host_id: str, tenant: str) -> None:
        """Make sure the ledger has the rows of a record a new one draws on (a refund's credit,
        a payout's payments): one it never saw (dated before the window, or its hook lost) is
        read from the host and written with its gates – dated before the start date, it then
        waits there, and its dependant says so with the ways out, instead of waiting silently
        for a row that does not exist."""
        if kind in ("payment", "overpayment"):
            if any(row.tenant_id == tenant for row in self.ledger.payment_parts(host_id)):
                return
        elif kind == "refund":
            if any(
                row.tenant_id == tenant
                for refund_kind in REFUND_KINDS
                for row in self.ledger.rows_for(refund_kind, host_id)
            ):
                return
        elif self.ledger.dep(kind, host_id, tenant) is not None:
            return
        history, record_kind = _SOURCE_RECORDS[kind]
        record = self.ctx.host.get_record(history, host_id)
        if record is None:
            log.warning("xero: %s %s is unknown to the host", record_kind, host_id)
            return
        payload, errors = self.validate(record_kind, record)
        if payload is None:
            self.reject(record_kind, record, errors)
            return
        if self.ctx.tenant_for(payload["location_id"]) != tenant:
            return  # another location's record: not this organisation's to send
        self.write(self.source_items(record_kind, payload, tenant), "created", ensure_contacts=True)

    def source_items(self, record_kind: str, payload: dict[str, Any], tenant: str) -> list[Item]:
        """The rows of a record read from the host as another's parent."""
        if record_kind == "credit_note":
            return credit_note_items(payload, tenant)
        if record_kind == "payment":
            return payment_items(payload, tenant)
        if record_kind == "deposit":
            return self.deposit_items(payload, tenant)
        return [refund_item(payload, tenant)]

    def _drop_vanished_parts(self, payment_id: str, parts: set[tuple[str, str]]) -> None:
        """A payment recorded again without one of its allocations (or its excess): the part
        that is gone must not reach Xero (:meth:`_drop_vanished`)."""
        self._drop_vanished(
            (r for r in self.ledger.payment_parts(payment_id) if (r.kind, r.host_id) not in parts),
            "payment",
            hint="Xero cannot edit a payment: delete it in Xero, then resolve this.",
        )

    def validate(self, kind: str, raw: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Validate a host record, including that its location exists (re-reading the host's
        locations once when it is new to us: a location added after start-up is fine)."""
        payload, errors = validate_record(kind, raw)
        if payload is not None and not self.ctx.known_location(payload["location_id"]):
            return None, [f"location_id: unknown location '{payload['location_id']}'"]
        return payload, errors

    def ensure_contact(
        self, client_id: str, tenant: str, location_id: str, *, live: bool = False
    ) -> None:
        """Make sure a contact row exists for this customer in this organisation, so a document
        never reaches an organisation before its customer does (a customer first seen at another
        location is created there first). ``live``: for a record made through a hook (a
        contact row that exists already is raised to live by that record's own write)."""
        if self.ledger.dep("contact", client_id, tenant) is not None:
            return
        payload: dict[str, Any] | None = None
        for row in self.ledger.rows_for("contact", client_id):
            if row.state != State.REJECTED:
                payload = row.payload
                break
        if payload is None:
            record = self.ctx.host.get_record("clients", client_id)
            if record is None:
                log.warning("xero: customer %s is unknown to the host", client_id)
                return
            payload, errors = self.validate("client", record)
            if payload is None:
                self.reject("contact", record, errors)
                return
        text = payload_json(payload)
        home = payload["location_id"]
        where = home if self.ctx.tenant_for(home) == tenant else location_id
        self.write([contact_item(payload, text, tenant, where)], event="created", live=live)

    # -- writing rows -------------------------------------------------------------------------

    def write(
        self, items: list[Item], event: str, *, ensure_contacts: bool = False, live: bool = False
    ) -> None:
        """Insert or update rows for host records, each with its gate, in one transaction.

        ``live``: the records arrive through a hook as the practice works (not a back-sync,
        catch-up or contact sync replay): their rows are claimed before history, and so are the
        rows they depend on that Xero does not have yet (``raise_priority``).

        New rows are inserted first, each with its gate, by ``INSERT … ON CONFLICT DO NOTHING``
        (one light look-up of the rows they depend on, none of their own keys: on a first-time
        backfill they are all new); only the items whose row was already there are then looked
        up and go through the edit rules. With ``ensure_contacts`` a customer missing in an
        item's organisation gets its contact row first (a backfill batch), in the same
        transaction.
        """
        if not items:
            return
        by_key = {item.key: item for item in items}  # one row per key
        items = list(by_key.values())
        with self.ledger.transaction():
            # Looked up inside the write transaction: a worker cannot claim a row between the
            # look-up and the write, so the edit rules see the state they act on.
            deps = {k: dep_facts(p) for k, p in self.ledger.dep_facts(dep_keys(items)).items()}
            self._note_absent_invoices(items, deps, by_key)
            if ensure_contacts:
                self.ensure_contacts(
                    sorted(
                        {
                            (item.dep_contact, item.tenant_id, item.location_id)
                            for item in items
                            if item.dep_contact
                            and ("contact", item.dep_contact, item.tenant_id) not in deps
                        }
                    )
                )
            rule_ctx = self.ctx.rule_context(self.ctx.dep_lookup(deps, by_key))
            inserted = self._insert_new(items, rule_ctx, event, live)
            if not all(inserted):
                known = [item for item, new in zip(items, inserted, strict=True) if not new]
                existing = self.ledger.facts(item.key for item in known)
                for item in known:
                    current = existing.get(item.key)
                    if current is not None:
                        self._update(current, item, event, rule_ctx, live=live)
            if live:
                self.ledger.raise_priority(
                    key for key in dep_keys(items) if not (deps.get(key) or _NOT_SENT).satisfied
                )
        self._supersede_rejected(items)

    def _insert_new(
        self, items: list[Item], rule_ctx: rules.RuleContext, event: str, live: bool
    ) -> list[bool]:
        """Insert the items the ledger has no row of, each with its gate; which were new."""
        priority = LIVE if live else 0
        new_rows = [new_row(item, rules.gates_for(item, rule_ctx), priority) for item in items]
        inserted = self.ledger.insert_new(new_rows)
        if any(
            new and row.state == State.READY for row, new in zip(new_rows, inserted, strict=True)
        ):
            self.ctx.doorbell.ring()
        for item, new in zip(items, inserted, strict=True):
            if (
                new
                and item.kind == "invoice"
                and (event == "voided" or item.payload.get("status") == "voided")
            ):
                # First seen already voided (history, or while the add-on was off):
                # never send it – Xero would get an authorised invoice nobody owes.
                found = self.ledger.find(item.kind, item.host_id, item.tenant_id)
                if found is not None:
                    self.ledger.transition(
                        found.id, State.EXCLUDED, detail="voided before it reached Xero"
                    )
        return inserted

    def _note_absent_invoices(
        self,
        items: Iterable[Item],
        deps: dict[tuple[str, str, str], rules.DepFacts],
        batch: Mapping[tuple[str, str, str], Item],
    ) -> None:
        """Ask the host (on its thread) for the invoices these items name that the ledger has
        no row for, add what it says to ``deps`` and record each date on its items."""
        absent: set[tuple[str, str, str]] = set()
        for item in items:
            if not item.dep_invoice:
                continue
            key = ("invoice", item.dep_invoice, item.tenant_id)
            if key in batch:
                continue
            if key not in deps:
                found = self.ctx.missing_invoice(*key)
                if found is None:
                    continue
                deps[key] = found
                absent.add(key)
            if key in absent:
                item.dep_invoice_date = deps[key].doc_date

    def _update(
        self,
        current: Facts,
        item: Item,
        event: str,
        rule_ctx: rules.RuleContext,
        *,
        live: bool = False,
    ) -> None:
        """A new version of a record the ledger already has: the edit rules (an edit made
        through a hook is live work: claimed before history)."""
        same = current.payload_hash == item.payload_hash
        voiding = event == "voided" and item.kind == "invoice"
        if current.state == State.EXCLUDED and self._removed_by_its_record(current):
            # the record makes this part again (an allocation put back): it goes after all
            self._regate_one(current, item, rule_ctx, self._fields_of(item, live))
            return
        if (
            same
            and current.state != State.REJECTED
            and not (voiding and current.operation != "void")
        ):
            return  # a replay: nothing new
        if not same and self._older_than_ledger(current, item):
            return  # an older version arriving late: never written over a newer one
        ledger = self.ledger
        fields = self._fields_of(item, live)
        if current.state == State.EXCLUDED:
            ledger.set_fields(current.id, **fields)
            return
        if current.state == State.SENDING:
            # In flight: the worker sends what it holds; the new version follows as an update.
            ledger.set_fields(current.id, pending_op="void" if voiding else "update", **fields)
            ledger.add_log(current.id, "edited", "changed while being sent: an update follows")
            return
        sent = current.xero_id is not None or current.state == State.SYNCED
        if not sent:
            if voiding:
                ledger.transition(
                    current.id, State.EXCLUDED, detail="voided before it reached Xero", **fields
                )
                return
            self._regate_one(current, item, rule_ctx, fields)
            return
        self._update_sent(current, item, voiding, rule_ctx, fields)

    @staticmethod
    def _fields_of(item: Item, live: bool) -> dict[str, Any]:
        """What a new version of a record writes over its row."""
        fields: dict[str, Any] = {
            "payload": item.payload_text,
            "payload_hash": item.payload_hash,
            "doc_date": item.doc_date,
            "number": item.number,
            "dep_contact": item.dep_contact,
            "dep_invoice": item.dep_invoice,
            "dep_credit_note": item.dep_credit_note,
            "dep_invoice_date": item.dep_invoice_date,
        }
        if live:
            fields["priority"] = LIVE
        return fields

    def _removed_by_its_record(self, current: Facts) -> bool:
        """Whether an excluded row was excluded because its record stopped making it (not by
        an admin, whose exclusion stands)."""
        row = self.ledger.get(current.id)
        return bool(row is not None and row.detail and row.detail.startswith(_REMOVED))

    def _older_than_ledger(self, current: Facts, item: Item) -> bool:
        """Whether ``item`` is an older version of the record than the ledger holds, by the
        host's ``updated_at``: a spooled record replayed after the reconciliation wrote the
        newer one, a hook kept for later overtaken by the next, a reconciliation that read a
        record just before its hook landed. One rule here covers every way in; when either
        side has no comparable moment it cannot decide, and the new version is written."""
        if current.state == State.REJECTED:
            return False
        row = self.ledger.get(current.id)
        if row is None:
            return False
        ours = version_moment(row.payload.get("updated_at"))
        theirs = version_moment(item.payload.get("updated_at"))
        if ours is None or theirs is None or ours <= theirs:
            return False
        log.info(
            "xero: %s %s: version of %s not written over the ledger's of %s",
            item.kind,
            item.host_id,
            theirs.isoformat(),
            ours.isoformat(),
        )
        return True

    def _update_sent(
        self,
        current: Facts,
        item: Item,
        voiding: bool,
        rule_ctx: rules.RuleContext,
        fields: dict[str, Any],
    ) -> None:
        """A new version of a record Xero already has: an update, or failed where Xero will
        not take it."""
        refusal = self._refusal(current, item.kind, voiding)
        if item.kind in ("invoice", "credit_note", "contact"):
            # a retry after the admin cleared the way in Xero sends the change as an update;
            # payments cannot be edited in Xero, so theirs is a new payment (old one deleted)
            fields["operation"] = "void" if voiding else "update"
        if refusal is not None:
            self.ledger.transition(
                current.id, State.FAILED, message=refusal[0], hint=refusal[1], **fields
            )
            return
        self._regate_one(current, item, rule_ctx, fields)
        if item.kind in rules.MONEY_DOCUMENT_KINDS:
            # Payments and allocations already cleared to go against the version Xero has now
            # wait for this edit (rules.dependency_satisfied): sent first, Xero would refuse a
            # payment of the new total, or refuse the edit of an invoice now paid.
            ledger = self.ledger
            self.regate(
                lambda after: ledger.cleared_against(
                    item.kind,
                    current.host_id,
                    current.tenant_id,
                    _CLEARED_AGAINST,
                    after_id=after,
                    limit=PAGE,
                )
            )

    def _regate_one(
        self, current: Facts, item: Item, rule_ctx: rules.RuleContext, fields: dict[str, Any]
    ) -> None:
        gate = rules.gates_for(item_facts(item, current.include_before_start), rule_ctx)
        fields.update(message=None, field=None, hint=None)
        if gate is None:
            self.ledger.transition(current.id, State.READY, **fields)
            self.ctx.doorbell.ring()
        else:
            self.ledger.transition(
                current.id, State.WAITING, gate=gate.name, detail=gate.detail, **fields
            )

    def _refusal(self, current: Facts, kind: str, voiding: bool) -> tuple[str, str] | None:
        """Why Xero will not take a change to a record it already has, or ``None``."""
        what = "void" if voiding else "change"
        refused = edit_refusal(kind)  # a payment or allocation: Xero edits none in place
        if refused is not None:
            return refused
        if kind in ("invoice", "credit_note"):
            paid = self.ledger.in_xero_against(
                current.host_id, current.tenant_id, ("payment", "allocation", "deposit_allocation")
            )
            if kind == "invoice" and paid:
                return (
                    f"Xero will not {what} this invoice: it has a payment or credit note "
                    "allocated to it in Xero",
                    "Remove the payment/allocation in Xero, then press retry; or resolve this "
                    "if you changed the invoice in Xero by hand.",
                )
        return None

    def _supersede_rejected(self, items: list[Item]) -> None:
        """A readable version of a record arrived: its earlier rejections are no longer news."""
        if not self.any_rejected:
            return
        for item in items:
            kind = _RECORD_KIND.get(item.kind, item.kind)
            split = kind in ("payment", "deposit")
            host_id = item.host_id.split(":", 1)[0] if split else item.host_id
            for row in self.ledger.rows_for(kind, host_id) + self.ledger.rows_for(
                kind, host_id + "#rejected"
            ):
                if row.state == State.REJECTED and row.tenant_id != item.tenant_id:
                    self.ledger.transition(
                        row.id, State.EXCLUDED, detail="superseded by a valid version"
                    )

    # -- rejections ---------------------------------------------------------------------------

    def reject(self, kind: str, raw: Any, errors: list[str]) -> None:
        """Keep a record the plugin cannot read, with its reasons, for the dashboard."""
        kept = capped_raw(raw)
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id):
            host_id = str(raw_id)[:100]
        else:
            host_id = f"invalid:{kept['sha256'][:16]}"
        raw_location = raw.get("location_id") if isinstance(raw, Mapping) else None
        location = raw_location if isinstance(raw_location, str) and raw_location else ""
        location = location if self.ctx.known_location(location) else ""
        message = "; ".join(errors)
        if kept["truncated"]:
            message += f" (raw record of {kept['size']} bytes: first 64 KB kept, sha256 kept)"
        log.warning("xero: refused %s %s: %s", kind, host_id, message)
        self.any_rejected = True
        text = json.dumps(kept)
        with self.ledger.transaction():
            current = self.ledger.find(kind, host_id, "")
            if current is not None and current.state != State.REJECTED:
                host_id += "#rejected"
                current = self.ledger.find(kind, host_id, "")
            if current is None:
                self.ledger.insert(
                    [
                        NewRow(
                            kind=kind,
                            host_id=host_id,
                            tenant_id="",
                            location_id=location,
                            state=State.REJECTED,
                            payload=text,
                            payload_hash=text_hash(text),
                            message=message,
                            field=errors[0].split(":", 1)[0] if errors else None,
                        )
                    ]
                )
            else:
                self.ledger.set_fields(
                    current.id, payload=text, payload_hash=text_hash(text), message=message
                )
            tell_waiting_on_rejected(self.ledger, kind, host_id)  # its payments say why they wait


def version_moment(value: Any) -> datetime | None:
    """A record's ``updated_at`` as a moment, or ``None`` when it is not one (then it cannot
    decide which version is newer)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
