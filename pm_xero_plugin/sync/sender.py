"""Send one claimed batch of ledger rows to one organisation, and write every outcome back.

This is where "at least once from the ledger" becomes "exactly once in Xero":

1. Rows whose previous attempt went out with an unknown outcome (a timeout, a crash after the
   request left) are first **looked up in Xero by their number or reference** and adopted if
   Xero has them. Idempotency keys live only six minutes; the look-up holds for ever.
2. Before the request leaves, the ledger durably records "sent, outcome unknown" for its rows.
3. Xero's per-element answer (``summarizeErrors=false``) is mapped back row by row: one bad
   element fails its row only, with Xero's message and a fix hint.
4. A create refused because the number exists is linked to the existing document, not duplicated.

It knows nothing of threads or scheduling: :mod:`pm_xero_plugin.sync.worker` does that.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.contacts import contact_payload
from pm_xero_plugin.mapping.documents import (
    credit_note_allocation_payload,
    credit_note_payload,
    invoice_payload,
    void_invoice_payload,
)
from pm_xero_plugin.mapping.payments import overpayment_payload, payment_payload
from pm_xero_plugin.xero.dates import parse_xero_date
from pm_xero_plugin.xero.errors import (
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ReconnectRequired,
    TransientError,
    ValidationFailed,
    XeroError,
)
from pm_xero_plugin.xero.hints import diagnose
from pm_xero_plugin.xero.kinds import KINDS
from pm_xero_plugin.xero.retry import backoff_delay

__all__ = ["BatchOutcome", "BatchSender"]

log = logging.getLogger("pm_xero_plugin.sync.sender")


class _Row(Protocol):
    id: int
    kind: str
    host_id: str
    tenant_id: str
    location_id: str
    payload: dict[str, Any]
    xero_id: str | None
    attempts: int
    operation: str
    uncertain: bool


@dataclass
class BatchOutcome:
    """What one batch did: the worker uses it for scheduling and the demo for its counters."""

    synced: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: int = 0
    released: int = 0
    api_calls: int = 0
    blocked_for: float = 0.0
    """Seconds this tenant must wait (429 ``Retry-After``), 0 when it may go on."""


@dataclass
class _Prepared:
    row: _Row
    method: str
    element: dict[str, Any]
    dedupe_key: str


class BatchSender:
    """Turns claimed rows into Xero requests and their answers into ledger transitions.

    :param ledger: the worker-facing ledger API (claim/mark_* transitions).
    :param client: the Xero Accounting client.
    :param settings: returns the plugin settings now in force.
    :param connection_for: the token set (connection key) that reaches a tenant.
    :param now: the host clock.
    :param on_reconnect_required: told when a tenant's connection is gone, so the engine pauses it.
    """

    def __init__(
        self,
        ledger: Any,
        client: Any,
        *,
        settings: Callable[[], Mapping[str, Any]],
        connection_for: Callable[[str], str | None],
        now: Callable[[], datetime],
        on_reconnect_required: Callable[[str, str], None] = lambda tenant, reason: None,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self._settings = settings
        self._connection_for = connection_for
        self._now = now
        self._on_reconnect_required = on_reconnect_required
        self._rng = rng or random.Random()
        self._ours: dict[
            str, tuple[datetime, tuple[str, ...], dict[str, dict[str, Any]] | None]
        ] = {}
        """Per organisation: until when, for which prefixes, its contacts under our prefix."""
        self._ours_locks: dict[str, threading.Lock] = {}
        """Per organisation: two batches in flight read it once (the second waits for it)."""
        self._locks_guard = threading.Lock()

    # -- public ----------------------------------------------------------------------------------

    def send(self, tenant_id: str, kind: str, rows: Sequence[_Row]) -> BatchOutcome:
        """Send ``rows`` (all of one kind, one tenant, claimed by the caller) and settle each."""
        outcome = BatchOutcome()
        if not rows:
            return outcome
        connection = self._connection_for(tenant_id)
        if connection is None:
            self.ledger.release([r.id for r in rows])
            outcome.released += len(rows)
            return outcome
        try:
            prepared = self._prepare(tenant_id, kind, rows, outcome)
            if kind == "contact":
                prepared = self._match_contacts(tenant_id, connection, prepared, outcome)
            else:
                prepared = self._adopt_uncertain(tenant_id, connection, kind, prepared, outcome)
            if kind == "allocation":
                for item in prepared:
                    self._send_allocation(tenant_id, connection, item, outcome)
            else:
                for method in ("PUT", "POST"):
                    group = [p for p in prepared if p.method == method]
                    if group:
                        self._send_group(tenant_id, connection, kind, method, group, outcome)
        except _StopBatch:
            pass
        return outcome

    # -- preparing -------------------------------------------------------------------------------

    def _mapping_for(self, tenant_id: str, row: _Row) -> OrgMapping:
        return OrgMapping.from_settings(dict(self._settings()), tenant_id, row.location_id)

    def _xero_id(self, kind: str, host_id: str, tenant_id: str) -> str:
        xero_id = self.ledger.xero_id(kind, host_id, tenant_id)
        if not xero_id:
            # The ledger's gates promise the parent is synced; if not, this is a bug worth seeing.
            raise MappingError(kind, f"{kind} {host_id} is not in Xero yet")
        return str(xero_id)

    def _prepare(
        self, tenant_id: str, kind: str, rows: Sequence[_Row], outcome: BatchOutcome
    ) -> list[_Prepared]:
        prepared: list[_Prepared] = []
        for row in rows:
            try:
                prepared.append(self._prepare_one(tenant_id, kind, row))
            except _Refused as exc:
                self.ledger.mark_failed(row.id, exc.message, hint=exc.hint)
                outcome.failed += 1
            except MappingError as exc:
                self.ledger.mark_failed(
                    row.id,
                    str(exc),
                    field=getattr(exc, "field", None),
                    hint="Fix the mapping under Xero settings (or the record in Pet Manager), "
                    "then retry.",
                )
                outcome.failed += 1
        return prepared

    def _prepare_one(self, tenant_id: str, kind: str, row: _Row) -> _Prepared:
        m = self._mapping_for(tenant_id, row)
        p = row.payload
        update = row.operation in ("update", "void") and bool(row.xero_id)
        if kind == "contact":
            element = contact_payload(p, m)
            distinct = getattr(row, "xero_name", None)
            if distinct:
                element["Name"] = distinct  # an admin's way out of a name Xero gives another
            if update:
                element["ContactID"] = row.xero_id
            return _Prepared(row, "POST" if update else "PUT", element, element["ContactNumber"])
        if kind == "invoice":
            if row.operation == "void" and row.xero_id:
                element = void_invoice_payload(row.xero_id, p["number"], m)
                return _Prepared(row, "POST", element, element["InvoiceNumber"])
            contact_id = self._xero_id("contact", p["client_id"], tenant_id)
            element = invoice_payload(
                p, m, contact_id=contact_id, xero_invoice_id=row.xero_id if update else None
            )
            return _Prepared(row, "POST" if update else "PUT", element, element["InvoiceNumber"])
        if kind in _NOT_EDITABLE and row.xero_id and row.operation != "create":
            # Xero edits no payment or allocation; PUTting the new version would add a second
            # one next to the first. The admin decides (delete in Xero and retry, or resolve).
            raise _Refused(
                f"{kind.replace('_', ' ')} {row.host_id} changed after it reached Xero "
                f"({row.xero_id}), and Xero cannot edit one",
                "Delete it in Xero, then retry to send the new version; or resolve this if "
                "Xero is already right.",
            )
        if kind == "credit_note":
            contact_id = self._xero_id("contact", p["client_id"], tenant_id)
            element = credit_note_payload(p, m, contact_id=contact_id)
            if update:
                element["CreditNoteID"] = row.xero_id
            return _Prepared(row, "POST" if update else "PUT", element, element["CreditNoteNumber"])
        if kind == "allocation":
            credit_note_id = self._xero_id("credit_note", row.host_id, tenant_id)
            invoice_id = self._xero_id("invoice", p["invoice_id"], tenant_id)
            invoice = self.ledger.dep("invoice", p["invoice_id"], tenant_id)
            element = credit_note_allocation_payload(
                p,
                invoice_id=invoice_id,
                amount=Decimal(p["total"]),
                invoice_date=invoice.doc_date if invoice else None,
            )
            return _Prepared(row, "PUT", element, credit_note_id)
        if kind == "payment":
            invoice_host_id = row.host_id.split(":", 1)[1]
            allocation = next(a for a in p["allocations"] if a["invoice_id"] == invoice_host_id)
            invoice_id = self._xero_id("invoice", invoice_host_id, tenant_id)
            element = payment_payload(p, allocation, m, invoice_id=invoice_id)
            return _Prepared(row, "PUT", element, element["Reference"])
        if kind == "overpayment":
            contact_id = self._xero_id("contact", p["client_id"], tenant_id)
            element = overpayment_payload(p, m, contact_id=contact_id)
            return _Prepared(row, "PUT", element, element["Reference"])
        raise MappingError("kind", f"unknown ledger kind {kind!r}")

    # -- exactly once: look before re-sending ----------------------------------------------------

    def _lookup(
        self, tenant_id: str, connection: str, kind: str, items: Sequence[_Prepared]
    ) -> dict[int, str]:
        """Xero ids of documents Xero already has for these rows, keyed by row id."""
        keys = sorted({p.dedupe_key for p in items})
        found: dict[int, str] = {}
        if kind == "contact":
            by_number = self.client.find_contacts_by_number(tenant_id, connection, keys)
            for p in items:
                hit = by_number.get(p.dedupe_key)
                if hit:
                    found[p.row.id] = hit["ContactID"]
        elif kind == "invoice":
            by_number = self.client.find_invoices_by_number(tenant_id, connection, keys)
            for p in items:
                hit = by_number.get(p.dedupe_key)
                if not hit or hit.get("Status") == "DELETED":
                    continue  # a deleted invoice is not the document this row created
                if p.method == "PUT" or hit.get("Status") == "VOIDED":
                    found[p.row.id] = hit["InvoiceID"]
        elif kind == "credit_note":
            by_number = self.client.find_credit_notes_by_number(tenant_id, connection, keys)
            for p in items:
                hit = by_number.get(p.dedupe_key)
                if hit:
                    found[p.row.id] = hit["CreditNoteID"]
        elif kind == "payment":
            by_ref = self.client.find_payments_by_reference(tenant_id, connection, keys)
            for p in items:
                invoice_id = p.element["Invoice"]["InvoiceID"]
                for hit in _as_list(by_ref.get(p.dedupe_key)):
                    if (hit.get("Invoice") or {}).get("InvoiceID") == invoice_id and hit.get(
                        "Status"
                    ) != "DELETED":
                        found[p.row.id] = hit["PaymentID"]
        elif kind == "overpayment":
            by_ref = self.client.find_overpayments_by_reference(tenant_id, connection, keys)
            for p in items:
                for hit in _as_list(by_ref.get(p.dedupe_key)):
                    xero_id = hit.get("OverpaymentID") or hit.get("BankTransactionID")
                    if xero_id:
                        found[p.row.id] = xero_id
            for p in items:
                if p.row.id not in found:
                    xero_id = self._overpayment_by_line(tenant_id, connection, p)
                    if xero_id:
                        found[p.row.id] = xero_id
        elif kind == "allocation":
            for p in items:
                if self.client.credit_note_allocated_to(
                    tenant_id, connection, p.dedupe_key, p.element["Invoice"]["InvoiceID"]
                ):
                    found[p.row.id] = p.dedupe_key
        return found

    def _overpayment_by_line(self, tenant_id: str, connection: str, item: _Prepared) -> str | None:
        """The contact's overpayment whose line names this payment and whose amount matches:
        Xero may drop ``Reference`` on overpayments, never the line description."""
        contact_id = item.element["Contact"]["ContactID"]
        description = item.element["LineItems"][0]["Description"]
        amount = Decimal(str(item.element["LineItems"][0]["LineAmount"]))
        for txn in self.client.find_overpayments_of_contact(tenant_id, connection, contact_id):
            lines = txn.get("LineItems") or []
            same_line = any(line.get("Description") == description for line in lines)
            total = txn.get("Total")
            if same_line and total is not None and Decimal(str(total)) == amount:
                return str(txn.get("OverpaymentID") or txn.get("BankTransactionID"))
        return None

    def _match_contacts(
        self,
        tenant_id: str,
        connection: str,
        prepared: list[_Prepared],
        outcome: BatchOutcome,
    ) -> list[_Prepared]:
        """Match before create: a Xero contact carrying our contact number is ours, and is
        linked instead of created (Xero would refuse a second one: numbers are unique).

        An organisation that already holds our customers (an earlier connection, a rebuilt
        ledger) is thus linked contact by contact, at one look-up per batch of 50. What Xero
        holds under our prefix is read first, once per organisation every few minutes: when
        that one read shows all of it (fewer than a page), batches match against it without
        a call of their own – a fresh organisation costs one call, not one per batch. Rows
        whose earlier create is in doubt are always looked up.
        """
        creates = [p for p in prepared if p.method == "PUT"]
        if not creates:
            return prepared
        in_doubt = {p.row.id for p in creates if p.row.uncertain}
        try:
            found = (
                None if in_doubt else self._ours_in_xero(tenant_id, connection, creates, outcome)
            )
            if found is None:
                outcome.api_calls += 1
                found = self.client.find_contacts_by_number(
                    tenant_id, connection, [p.dedupe_key for p in creates]
                )
        except XeroError as exc:
            self._settle_request_error(
                tenant_id, [p.row for p in prepared], exc, outcome, in_doubt=in_doubt
            )
            raise _StopBatch from exc
        linked: set[int] = set()
        for p in creates:
            hit = found.get(p.dedupe_key)
            if hit and hit.get("ContactID"):
                log.info("linked contact %s already in Xero (tenant %s)", p.dedupe_key, tenant_id)
                self.ledger.mark_synced(
                    p.row.id,
                    str(hit["ContactID"]),
                    {
                        "matched": "ContactNumber",
                        "key": p.dedupe_key,
                        "contact": _contact_facts(hit),
                    },
                )
                outcome.synced += 1
                linked.add(p.row.id)
        return [p for p in prepared if p.row.id not in linked]

    def _ours_in_xero(
        self, tenant_id: str, connection: str, creates: list[_Prepared], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]] | None:
        """The organisation's contacts under our contact-number prefix, by number, when one
        read (a page) holds them all; ``None`` when there are more (look each batch up)."""
        prefixes = tuple(
            sorted({self._mapping_for(tenant_id, p.row).prefixes.client for p in creates})
        )
        with self._locks_guard:
            lock = self._ours_locks.setdefault(tenant_id, threading.Lock())
        with lock:
            return self._read_ours(tenant_id, connection, prefixes, outcome)

    def _read_ours(
        self, tenant_id: str, connection: str, prefixes: tuple[str, ...], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]] | None:
        now = self._now()
        cached = self._ours.get(tenant_id)
        if cached is not None and cached[0] > now and cached[1] == prefixes:
            return cached[2]
        held: dict[str, dict[str, Any]] | None = {}
        for prefix in prefixes:
            if '"' in prefix or "\\" in prefix:
                held = None
                break
            outcome.api_calls += 1
            page = self.client.get(
                tenant_id,
                connection,
                "Contacts",
                {
                    "where": f'ContactNumber!=null AND ContactNumber.StartsWith("{prefix}")',
                    "includeArchived": "true",
                    "page": "1",
                },
            )
            if len(page) >= _CONTACTS_PAGE:
                held = None  # more than one read shows: each batch is looked up instead
                break
            assert held is not None
            for contact in page:
                if contact.get("ContactNumber"):
                    held.setdefault(str(contact["ContactNumber"]), contact)
        self._ours[tenant_id] = (now + _OURS_FOR, prefixes, held)
        return held

    def _hold_name_taken(
        self,
        tenant_id: str,
        connection: str,
        taken: list[tuple[_Prepared, str]],
        outcome: BatchOutcome,
    ) -> None:
        """Xero gives these contacts' names to other contacts. One that carries our number is
        ours (linked); any other is *not* adopted: the row is held for an admin with the
        contact Xero has (link it, or create ours under a distinct name), and the documents
        waiting for it say so instead of failing one by one."""
        try:
            by_name = self._contacts_by_name(
                tenant_id, connection, [p.element["Name"] for p, _ in taken], outcome
            )
        except XeroError as exc:
            # Xero refused each create, so nothing is in doubt: they come back after a pause.
            self._settle_request_error(tenant_id, [p.row for p, _ in taken], exc, outcome)
            return
        for p, said in taken:
            match = by_name.get(p.element["Name"].casefold())
            if match and match.get("ContactNumber") == p.dedupe_key and match.get("ContactID"):
                self.ledger.mark_synced(
                    p.row.id,
                    str(match["ContactID"]),
                    {
                        "matched": "ContactNumber",
                        "key": p.dedupe_key,
                        "contact": _contact_facts(match),
                    },
                )
                outcome.synced += 1
                continue
            self.ledger.hold_contact(p.row.id, said, _contact_facts(match) if match else None)
            outcome.waiting += 1

    def _contacts_by_name(
        self, tenant_id: str, connection: str, names: list[str], outcome: BatchOutcome
    ) -> dict[str, dict[str, Any]]:
        """Active contacts by name (case-folded), 20 names per ``where`` call; a name with a
        quote cannot be asked for and is left unmatched (it is still held, without a match)."""
        wanted = [n for n in dict.fromkeys(names) if '"' not in n and "\\" not in n]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _NAMES_PER_LOOKUP):
            chunk = wanted[start : start + _NAMES_PER_LOOKUP]
            where = " OR ".join(f'Name=="{name}"' for name in chunk)
            outcome.api_calls += 1
            for contact in self.client.get_all(tenant_id, connection, "Contacts", {"where": where}):
                name = str(contact.get("Name") or "").casefold()
                if contact.get("ContactStatus", "ACTIVE") == "ACTIVE":
                    found.setdefault(name, contact)
        return found

    def _found_parents(self, tenant_id: str, kind: str, prepared: list[_Prepared]) -> set[int]:
        """Rows whose parent was found in Xero rather than created by us (an invoice linked
        by its number, a contact matched by its number): their own create may be in Xero too
        (the same books synced before, by an earlier connection or ledger), so they are looked
        up first – a payment of an already-paid invoice would otherwise be refused, or a part
        payment doubled."""
        parents: dict[int, tuple[str, str]] = {}
        for p in prepared:
            if p.method != "PUT" or p.row.uncertain:
                continue
            if kind == "payment":
                parents[p.row.id] = ("invoice", p.row.host_id.split(":", 1)[1])
            elif kind == "overpayment":
                parents[p.row.id] = ("contact", str(p.row.payload.get("client_id")))
            elif kind == "allocation":
                parents[p.row.id] = ("credit_note", p.row.host_id)
        if not parents:
            return set()
        found_in_xero = getattr(self.ledger, "found_in_xero", None)
        if found_in_xero is None:  # a ledger without the record of what was found
            return set()
        by_kind: dict[str, set[str]] = {}
        for parent_kind, host_id in parents.values():
            by_kind.setdefault(parent_kind, set()).add(host_id)
        found = {
            (parent_kind, host_id)
            for parent_kind, host_ids in by_kind.items()
            for host_id in found_in_xero(parent_kind, host_ids, tenant_id)
        }
        return {row_id for row_id, parent in parents.items() if parent in found}

    def _adopt_uncertain(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        prepared: list[_Prepared],
        outcome: BatchOutcome,
    ) -> list[_Prepared]:
        look = self._found_parents(tenant_id, kind, prepared)
        uncertain = [
            p for p in prepared if (p.row.uncertain or p.row.id in look) and p.method == "PUT"
        ]
        if not uncertain:
            return prepared
        try:
            found = self._lookup(tenant_id, connection, kind, uncertain)
        except XeroError as exc:
            # The look-up failed, so nothing is known yet about the rows in doubt: they must
            # stay in doubt (a 429 on the look-up says nothing about the earlier create).
            self._settle_request_error(
                tenant_id,
                [p.row for p in prepared],
                exc,
                outcome,
                in_doubt={p.row.id for p in uncertain if p.row.uncertain},
            )
            raise _StopBatch from exc
        finally:
            outcome.api_calls += 1
        for p in uncertain:
            if p.row.id in found:
                log.info("adopted %s %s already in Xero (tenant %s)", kind, p.dedupe_key, tenant_id)
                how = "adopted" if p.row.uncertain else "linked_existing"
                self.ledger.mark_synced(p.row.id, found[p.row.id], {how: True, "key": p.dedupe_key})
                outcome.synced += 1
        return [p for p in prepared if p.row.id not in found]

    # -- sending ---------------------------------------------------------------------------------

    def _attempt_key(self, tenant_id: str, kind: str, rows: Iterable[_Row]) -> str:
        # One key per batch attempt, reused by the client's own retries of that attempt.
        return f"pmx-{kind}-{uuid.uuid4().hex}"

    def _send_group(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        method: str,
        group: list[_Prepared],
        outcome: BatchOutcome,
    ) -> None:
        info = KINDS[kind]
        key = self._attempt_key(tenant_id, kind, (p.row for p in group))
        self.ledger.mark_sent([p.row.id for p in group], key)
        try:
            outcome.api_calls += 1
            results = self.client.send_batch(
                tenant_id,
                connection,
                method,
                info.endpoint,
                [p.element for p in group],
                idempotency_key=key,
            )
        except XeroError as exc:
            self._settle_request_error(tenant_id, [p.row for p in group], exc, outcome)
            raise _StopBatch from exc
        duplicates: list[tuple[_Prepared, str]] = []
        name_taken: list[tuple[_Prepared, str]] = []
        for p, result in zip(group, results, strict=False):
            if result.ok and result.xero_id:
                self.ledger.mark_synced(p.row.id, result.xero_id, _reply(result))
                outcome.synced += 1
                continue
            message = "; ".join(result.errors) or "Xero refused this element without a message"
            diagnosis = diagnose(message)
            if kind == "contact" and _NAME_TAKEN.search(message):
                name_taken.append((p, message))
            elif diagnosis.duplicate_number and method == "PUT":
                duplicates.append((p, message))
            else:
                self._settle_element_error(p.row, message, diagnosis, _reply(result), outcome)
        if duplicates:
            self._link_duplicates(tenant_id, connection, kind, duplicates, outcome)
        if name_taken:
            self._hold_name_taken(tenant_id, connection, name_taken, outcome)

    def _send_allocation(
        self, tenant_id: str, connection: str, item: _Prepared, outcome: BatchOutcome
    ) -> None:
        key = self._attempt_key(tenant_id, "allocation", [item.row])
        self.ledger.mark_sent([item.row.id], key)
        try:
            outcome.api_calls += 1
            results = self.client.allocate(
                tenant_id,
                connection,
                "CreditNotes",
                item.dedupe_key,
                [item.element],
                idempotency_key=key,
            )
        except XeroError as exc:
            self._settle_request_error(tenant_id, [item.row], exc, outcome)
            raise _StopBatch from exc
        result = results[0] if results else None
        if result is not None and not result.ok:
            message = "; ".join(result.errors) or "Xero refused the allocation"
            self._settle_element_error(
                item.row, message, diagnose(message), _reply(result), outcome
            )
            return
        self.ledger.mark_synced(item.row.id, item.dedupe_key, _reply(result) if result else None)
        outcome.synced += 1

    def _link_duplicates(
        self,
        tenant_id: str,
        connection: str,
        kind: str,
        duplicates: list[tuple[_Prepared, str]],
        outcome: BatchOutcome,
    ) -> None:
        """Xero said the number exists: link the row to that document instead of failing it –
        when it is provably the same document (customer, date, total), never by number alone:
        another practice's invoice under our number is not ours."""
        items = [p for p, _ in duplicates]
        differs: dict[int, str] = {}
        try:
            outcome.api_calls += 1
            if kind in _DOCUMENTS:
                found, differs = self._same_documents(tenant_id, connection, kind, items)
            else:
                found = self._lookup(tenant_id, connection, kind, items)
        except XeroError as exc:
            self._settle_request_error(tenant_id, [p.row for p in items], exc, outcome)
            return
        for p, said in duplicates:
            if p.row.id in differs:
                self.ledger.mark_failed(
                    p.row.id,
                    f"{said} ({p.dedupe_key} in Xero is another document: {differs[p.row.id]}; "
                    "not linked)",
                    hint="Two records share this number in Xero. If Xero's is this one after "
                    "all, resolve this; otherwise renumber the one in Xero (or choose another "
                    "number prefix under Xero settings) and retry.",
                )
                outcome.failed += 1
            elif p.row.id in found:
                self.ledger.mark_synced(
                    p.row.id, found[p.row.id], {"linked_existing": True, "key": p.dedupe_key}
                )
                outcome.synced += 1
            else:
                # Keep Xero's own words: they are what the admin (and Xero support) need.
                self.ledger.mark_failed(
                    p.row.id,
                    f"{said} ({p.dedupe_key} could not be found in Xero to link to it)",
                    hint="Xero says this number is taken, but no document of this kind has it "
                    "(it may be deleted, archived or of another type). Renumber or remove the "
                    "one in Xero, then retry.",
                )
                outcome.failed += 1

    def _same_documents(
        self, tenant_id: str, connection: str, kind: str, items: Sequence[_Prepared]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """Invoices or credit notes Xero has under these rows' numbers: (row id -> Xero id of
        the ones that are the same document, row id -> how the others differ)."""
        keys = sorted({p.dedupe_key for p in items})
        if kind == "invoice":
            docs = self.client.find_invoices_by_number(tenant_id, connection, keys)
        else:
            docs = self.client.find_credit_notes_by_number(tenant_id, connection, keys)
        same: dict[int, str] = {}
        differs: dict[int, str] = {}
        id_field = "InvoiceID" if kind == "invoice" else "CreditNoteID"
        for p in items:
            doc = docs.get(p.dedupe_key)
            if not doc or doc.get("Status") == "DELETED" or not doc.get(id_field):
                continue  # a deleted document is not the one this row would create
            why = _how_it_differs(p, doc)
            if why:
                differs[p.row.id] = why
            else:
                same[p.row.id] = str(doc[id_field])
        return same, differs

    # -- settling failures -----------------------------------------------------------------------

    def _settle_element_error(
        self,
        row: _Row,
        message: str,
        diagnosis: Any,
        reply: dict[str, Any] | None,
        outcome: BatchOutcome,
    ) -> None:
        if diagnosis.gate:
            self.ledger.mark_waiting(row.id, diagnosis.gate, message)
            outcome.waiting += 1
        else:
            self.ledger.mark_failed(row.id, message, field=None, hint=diagnosis.hint, reply=reply)
            outcome.failed += 1

    def _settle_request_error(
        self,
        tenant_id: str,
        rows: Sequence[_Row],
        exc: XeroError,
        outcome: BatchOutcome,
        *,
        in_doubt: Set[int] = frozenset(),
    ) -> None:
        """Settle every row of a request that failed as a whole.

        :param in_doubt: rows whose earlier create may be in Xero and that were not looked up
            (the failed request was the look-up): whatever the error, they keep "uncertain".
        """
        ids = [r.id for r in rows]
        if isinstance(exc, RateLimited):
            # Xero refused this request without processing it: the rows wait for the tenant's
            # window. Rows of a refused *create* are known not to be in Xero (any earlier
            # unknown outcome was looked up first); rows whose look-up was refused are not.
            wait = exc.retry_after or 1.0
            next_at = self._now() + timedelta(seconds=wait)
            for row in rows:
                self.ledger.mark_retrying(
                    row.id,
                    next_at,
                    f"rate limited by Xero ({exc.problem})",
                    outcome_known=row.id not in in_doubt,
                )
            outcome.retrying += len(ids)
            outcome.blocked_for = max(outcome.blocked_for, wait)
            return
        if isinstance(exc, ReconnectRequired):
            self.ledger.release(ids)
            outcome.released += len(ids)
            self._on_reconnect_required(tenant_id, str(exc))
            return
        if isinstance(exc, ValidationFailed):
            # A row in doubt is never failed on a refused look-up: failing clears the doubt,
            # and the admin's retry would then create it a second time. It backs off instead.
            refused = [r for r in rows if r.id not in in_doubt]
            for row in refused:
                self.ledger.mark_failed(row.id, str(exc), hint=diagnose(str(exc)).hint)
            outcome.failed += len(refused)
            rows = [r for r in rows if r.id in in_doubt]
            ids = [r.id for r in rows]
            if not rows:
                return
        if isinstance(exc, NotFound):
            sure = [r for r in rows if r.id not in in_doubt and not r.uncertain]
            for row in sure:
                self.ledger.mark_failed(
                    row.id,
                    f"Xero has no such document ({exc})",
                    hint="It was probably deleted in Xero. Resolve this if that was intended, or "
                    "exclude it; retry sends it again.",
                )
            outcome.failed += len(sure)
            rows = [r for r in rows if r not in sure]
            ids = [r.id for r in rows]
            if not rows:
                return
        worn = [
            r
            for r in rows
            if r.attempts >= MAX_ATTEMPTS
            and r.id not in in_doubt
            and not r.uncertain
            and not isinstance(exc, OutcomeUnknown)
        ]
        for row in worn:
            self.ledger.mark_failed(
                row.id,
                f"gave up after {row.attempts} attempts: {exc}",
                hint="Xero keeps refusing or failing this request. Check Xero's status and the "
                "message, then retry.",
            )
        outcome.failed += len(worn)
        rows = [r for r in rows if r not in worn]
        ids = [r.id for r in rows]
        if not rows:
            return
        # Transient, OutcomeUnknown and anything else: back off and try again later. Rows that
        # went out with an unknown outcome keep their "uncertain" mark from mark_sent, so the
        # next attempt looks them up in Xero before re-sending.
        attempts = max((r.attempts for r in rows), default=0)
        delay = backoff_delay(attempts + 1, rng=self._rng)
        next_at = self._now() + timedelta(seconds=delay)
        kind = "unknown outcome" if isinstance(exc, OutcomeUnknown) else "temporary error"
        if not isinstance(exc, TransientError | OutcomeUnknown):
            kind = "error"
        for row in rows:
            self.ledger.mark_retrying(row.id, next_at, f"{kind}: {exc}")
        outcome.retrying += len(ids)


class _StopBatch(Exception):
    """Internal: the whole request failed and every row in it has been settled."""


class _Refused(Exception):
    """Internal: this row must not be sent as it is; an admin decides."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_NAME_TAKEN = re.compile(r"contact name .* already assigned to another contact", re.I | re.S)
"""Xero's name clash (its number clash is another message: a duplicate, linked)."""

_CONTACTS_PAGE = 100
"""Contacts per page of ``GET /Contacts`` (Xero's page size)."""

_NAMES_PER_LOOKUP = 20
"""``Name==`` alternatives per look-up (keeps the URL short, like the client's number look-ups)."""

_OURS_FOR = timedelta(minutes=5)
"""How long one read of an organisation's contacts under our prefix is matched against: a
contact someone adds meanwhile is still caught, by Xero's refusal of its number or name."""


def _contact_facts(contact: Mapping[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a Xero contact it matched: enough for an admin to recognise it."""
    keys = ("ContactID", "Name", "ContactNumber", "ContactStatus", "EmailAddress")
    return {key: contact.get(key) for key in keys if contact.get(key) is not None}


_DOCUMENTS = frozenset({"invoice", "credit_note"})
"""Kinds linked to a document with the same number only when it is provably the same one."""


def _how_it_differs(item: _Prepared, doc: Mapping[str, Any]) -> str | None:
    """How Xero's document under our number differs from ours (customer, date, total), or
    ``None`` when it is the same document. What Xero does not say is not held against it."""
    ours = str((item.element.get("Contact") or {}).get("ContactID") or "").lower()
    theirs = str((doc.get("Contact") or {}).get("ContactID") or "").lower()
    if ours and theirs and ours != theirs:
        return "another customer"
    our_date = str(item.element.get("Date") or "")
    their_date = str(doc.get("DateString") or doc.get("Date") or "")
    if our_date and their_date:
        try:
            if parse_xero_date(their_date) != parse_xero_date(our_date):
                return f"dated {parse_xero_date(their_date).isoformat()}, ours {our_date}"
        except ValueError:
            pass
    our_total = item.row.payload.get("total")
    their_total = doc.get("Total")
    if our_total is not None and their_total is not None:
        try:
            if abs(Decimal(str(their_total)) - Decimal(str(our_total))) > Decimal("0.01"):
                return f"total {their_total}, ours {our_total}"
        except ArithmeticError:
            pass
    return None


_NOT_EDITABLE = frozenset({"payment", "overpayment", "allocation"})
"""Kinds Xero cannot update in place: a changed one is refused, never sent again as a create."""

MAX_ATTEMPTS = 12
"""Attempts after which a row that keeps failing the same way stops retrying and asks an admin
(rows whose earlier send may have reached Xero keep retrying: failing would drop the doubt)."""


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _reply(result: Any) -> dict[str, Any]:
    return {
        "ok": bool(getattr(result, "ok", False)),
        "errors": list(getattr(result, "errors", [])),
        "warnings": list(getattr(result, "warnings", [])),
    }
