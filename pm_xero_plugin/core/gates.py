"""What a row's fate means for the rows that wait on it: decided here, applied by the ledger.

The ledger stores; the rules decide. When a contact, invoice or credit note reaches Xero, the
rows waiting for it are re-gated by :func:`pm_xero_plugin.core.rules.dependency_gate`; when a
contact will not reach Xero by itself (failed, held for an admin), its documents say why; when
an organisation's last contact is settled, its contact sync is finished and the documents held
behind it move on. :class:`DependantGates` does all of that through named ledger operations,
inside the ledger's settling transaction (it is the ledger's
:class:`~pm_xero_plugin.ledger.interface.Dependants`), so a second backend re-implements none
of it.

Dependency facts come from the ledger only, never from the host (this runs on the worker's
thread): of an invoice the ledger never saw (dated before the window) the engine recorded the
date on its payments at intake (``Facts.dep_invoice_date``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

from pm_xero_plugin.core import rules
from pm_xero_plugin.core.doorbell import Doorbell
from pm_xero_plugin.ledger.interface import Ledger
from pm_xero_plugin.ledger.sqlite import SqliteLedger
from pm_xero_plugin.ledger.states import Gate, State
from pm_xero_plugin.ledger.types import Facts, Parent, Row, TenantRecord

__all__ = [
    "PAGE",
    "DependantGates",
    "dep_facts",
    "dep_keys",
    "describe_parent_wait",
    "finish_contact_sync_if_done",
    "open_ledger",
    "record_number",
    "rejected_parent_detail",
    "tell_waiting_on_rejected",
    "tenant_facts",
]

PAGE = 1000
"""Rows re-gated per transaction."""

_WAITING_FOR: dict[str, tuple[Gate, ...]] = {
    "contact": (Gate.CONTACT,),
    "credit_note": (Gate.CREDIT_NOTE, Gate.CREDIT_BEFORE_START),
    "invoice": (Gate.INVOICE, Gate.INVOICE_BEFORE_START),
    "overpayment": (Gate.OVERPAYMENT, Gate.CREDIT_BEFORE_START),
    "deposit": (Gate.DEPOSIT, Gate.CREDIT_BEFORE_START),
}
"""The gates a row waits behind for a parent of each kind."""


@functools.lru_cache(maxsize=4096)
def _dep_facts(
    kind: str, state: str, gate: str | None, has_id: bool, doc_date: str | None, include: bool
) -> rules.DepFacts:
    satisfied = rules.dependency_satisfied(kind, state, "x" if has_id else None)
    held = None if satisfied else rules.held_reason(state, gate, kind)
    return rules.DepFacts(satisfied, doc_date, include, held)


def dep_facts(parent: Parent) -> rules.DepFacts:
    """The rules' view of a row others depend on (shared: a backfill reads one per row)."""
    return _dep_facts(
        parent.kind,
        parent.state,
        parent.gate,
        parent.xero_id is not None,
        parent.doc_date,
        parent.include_before_start,
    )


def tenant_facts(record: TenantRecord) -> rules.TenantFacts:
    """The rules' view of an organisation's sync state."""
    return rules.TenantFacts(
        connected=record.connected,
        connection_reason=record.connection_reason,
        codes_state=record.codes_state,
        codes_detail=record.codes_detail,
        contact_sync=record.contact_sync,
    )


def dep_keys(rows: Iterable[rules.RowFacts]) -> list[tuple[str, str, str]]:
    """The (kind, host id, tenant) of every parent these rows name."""
    keys: list[tuple[str, str, str]] = []
    for f in rows:
        if f.dep_contact:
            keys.append(("contact", f.dep_contact, f.tenant_id))
        if f.dep_invoice:
            keys.append(("invoice", f.dep_invoice, f.tenant_id))
        source = rules.SOURCE_KIND.get(f.kind)
        if f.dep_credit_note and source:
            keys.append((source, f.dep_credit_note, f.tenant_id))
    return keys


_SETTLED_BY_PAYOUTS = frozenset(
    {"payment", "overpayment", "credit_note_refund", "overpayment_refund", "deposit_refund"}
)
"""Kinds a payout may wait for (its card payments and the card refunds netted off it)."""


def _start_date(ledger: Ledger) -> date | None:
    value = ledger.meta("start_date")
    return date.fromisoformat(value) if value else None


def recheck_dependencies(
    ledger: Ledger,
    page_of: Callable[[int], Sequence[Facts]],
    doorbell: Doorbell | None = None,
) -> int:
    """Re-run the ordering rules on waiting rows whose earlier gates are known to be open (a
    page at a time: ``page_of(after_id)``); returns how many became ready."""
    start = _start_date(ledger)
    promoted = 0
    after = 0
    while True:
        with ledger.transaction():  # read and write together: no claim in between
            page = page_of(after)
            if not page:
                break
            after = page[-1].id
            promoted += _recheck(ledger, page, start)
    if promoted and doorbell is not None:
        doorbell.ring()
    return promoted


def _recheck(ledger: Ledger, page: Sequence[Facts], start: date | None) -> int:
    known = {key: dep_facts(parent) for key, parent in ledger.dep_facts(dep_keys(page)).items()}
    unknown: set[int] = set()
    for f in page:  # an invoice the ledger never saw: its date as recorded at intake
        key = ("invoice", f.dep_invoice or "", f.tenant_id)
        if f.dep_invoice and key not in known:
            if f.dep_invoice_date:
                known[key] = rules.DepFacts(False, f.dep_invoice_date)
            else:
                unknown.add(f.id)

    def lookup(kind: str, host_id: str, tenant_id: str) -> rules.DepFacts | None:
        return known.get((kind, host_id, tenant_id))

    ready: list[int] = []
    regate: dict[tuple[str, str | None], list[int]] = {}
    for f in page:
        if f.id in unknown and f.gate == Gate.INVOICE_BEFORE_START:
            # Recorded before the ledger kept the invoice's date (schema v2): without it the
            # rule would see "invoice not here yet" and hide the admin's two ways out.
            continue
        gate = rules.dependency_gate(f, lookup, start)
        if gate is None:
            ready.append(f.id)
        elif gate.name != f.gate:
            regate.setdefault((gate.name, gate.detail), []).append(f.id)
    ledger.transition_many(ready, State.READY)
    for (name, detail), ids in regate.items():
        ledger.transition_many(ids, State.WAITING, gate=name, detail=detail)
    return len(ready)


def finish_contact_sync_if_done(
    ledger: Ledger,
    tenant_id: str,
    doorbell: Doorbell | None = None,
) -> None:
    """An organisation's contact sync is finished once none of its contacts is still on its way
    (one held for an admin's decision does not count): its documents move on."""
    with ledger.transaction():
        if ledger.tenant(tenant_id).contact_sync != "running":
            return
        if ledger.active_contacts(tenant_id):
            return
        ledger.set_tenant(tenant_id, contact_sync="finished")
        recheck_dependencies(
            ledger,
            lambda after: ledger.waiting_behind(
                (Gate.CONTACT_SYNC,), tenant_id=tenant_id, after_id=after, limit=PAGE
            ),
            doorbell,
        )


class DependantGates:
    """The ledger's :class:`~pm_xero_plugin.ledger.interface.Dependants`: what waited for a
    settled row moves on (or says why it cannot).

    :param doorbell: rung when rows became ready (the worker may be waiting on it).
    """

    def __init__(self, doorbell: Doorbell | None = None) -> None:
        self.doorbell = doorbell

    def synced(self, ledger: Ledger, kind: str, host_id: str, tenant_id: str) -> None:
        """Promote what waited for the row; a contact may finish its organisation's sync."""
        gates = _WAITING_FOR.get(kind)
        if gates is not None:
            recheck_dependencies(
                ledger,
                lambda after: ledger.waiting_on(
                    kind, host_id, tenant_id, gates, after_id=after, limit=PAGE
                ),
                self.doorbell,
            )
        if kind == "contact":
            finish_contact_sync_if_done(ledger, tenant_id, self.doorbell)
        # a payout waiting for its payments looks again (the sender checks them all)
        reopened = kind in _SETTLED_BY_PAYOUTS and ledger.reopen_gate(Gate.PAYMENTS, tenant_id)
        if reopened and self.doorbell is not None:
            self.doorbell.ring()

    def stopped(self, ledger: Ledger, kind: str, host_id: str, tenant_id: str) -> None:
        """A contact that will not come by itself: its documents say why, and it no longer
        keeps its organisation's contact sync running. An invoice or credit note that will
        not: the payments and allocations waiting for it say why (never a silent wait)."""
        if kind in _SETTLED_BY_PAYOUTS:
            # a payout waiting for it looks again, and says it will not come by itself
            ledger.reopen_gate(Gate.PAYMENTS, tenant_id)
        if kind in _WAITING_FOR and kind != "contact":
            row = ledger.find(kind, host_id, tenant_id)
            if row is not None:
                describe_parent_wait(ledger, row, tenant_id)
            return
        if kind != "contact":
            return
        parent = ledger.dep(kind, host_id, tenant_id)
        if parent is not None:
            ledger.describe_contact_wait(
                host_id, tenant_id, rules.held_reason(parent.state, parent.gate)
            )
        finish_contact_sync_if_done(ledger, tenant_id, self.doorbell)

    def on_its_way_again(self, ledger: Ledger, host_id: str, tenant_id: str) -> None:
        """A held contact is on its way again (an admin chose a way out): its documents no
        longer say it is held."""
        ledger.describe_contact_wait(host_id, tenant_id, None)


def describe_parent_wait(ledger: Ledger, parent: Row, tenant_id: str) -> int:
    """Say on every row waiting for ``parent`` (an invoice or credit note of ``tenant_id``) why
    it waits when the parent will not be sent by itself – rejected at intake, failed, excluded
    – with its number and message (:func:`~pm_xero_plugin.core.rules.parent_held_detail`);
    a parent on its way again clears it. Returns how many rows were told."""
    detail = rules.parent_held_detail(
        parent.kind, record_number(parent), parent.state, parent.message
    )
    told = 0
    after = 0
    while True:
        with ledger.transaction():
            page = ledger.waiting_on(
                parent.kind,
                parent.host_id.removesuffix("#rejected"),
                tenant_id,
                _WAITING_FOR[parent.kind][:1],  # behind its own gate (not "before the start")
                after_id=after,
                limit=PAGE,
            )
            if not page:
                return told
            after = page[-1].id
            ids = [f.id for f in page]
            ledger.transition_many(ids, State.WAITING, gate=page[0].gate, detail=detail)
            told += len(ids)


def rejected_parent_detail(ledger: Ledger, kind: str, host_id: str) -> str | None:
    """What a payment or allocation says of an invoice (or credit note) the ledger holds only
    as rejected at intake (no row in any organisation: it can never be sent as it is)."""
    if kind not in ("invoice", "credit_note"):
        return None
    row = ledger.find(kind, host_id, "")
    if row is None or row.state != State.REJECTED:
        return None
    return rules.parent_held_detail(kind, record_number(row), row.state, row.message)


def tell_waiting_on_rejected(ledger: Ledger, kind: str, host_id: str) -> int:
    """A record was rejected at intake: the rows already waiting for it in an organisation that
    has no sendable version of it say so, instead of waiting silently."""
    if kind not in ("invoice", "credit_note"):
        return 0
    rejected = ledger.find(kind, host_id, "")
    if rejected is None or rejected.state != State.REJECTED:
        return 0
    told = 0
    for tenant in ledger.tenants():
        if ledger.find(kind, host_id.removesuffix("#rejected"), tenant.tenant_id) is None:
            told += describe_parent_wait(ledger, rejected, tenant.tenant_id)
    return told


def record_number(row: Row) -> object | None:
    """The host's number of a row's record (a rejected one keeps it inside its raw JSON)."""
    if row.number is not None:
        return row.number
    payload = row.payload if isinstance(row.payload, dict) else {}
    if "number" in payload:
        return payload.get("number")
    try:
        raw = json.loads(str(payload.get("raw") or "null"))
    except ValueError:
        return None
    return raw.get("number") if isinstance(raw, dict) else None


def open_ledger(
    path: Path | str,
    *,
    clock: Callable[[], datetime] | None = None,
    doorbell: Doorbell | None = None,
) -> SqliteLedger:
    """The SQLite ledger with the dependency rules applied on settling (what the engine and
    anything that settles rows outside it – a test driving the ledger by hand – opens)."""
    return SqliteLedger(path, clock=clock, dependants=DependantGates(doorbell))
