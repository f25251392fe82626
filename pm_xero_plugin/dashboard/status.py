"""The accounting dashboard's data (``sync_status``), built from indexed queries only.

Counts come from the ledger's ``counts`` table (kept by triggers in the same transaction as every
state change), organisation state from the ``tenants`` table, and the one-by-one list from a
partial index over failed/rejected rows, capped. So the answer costs the same with a million rows.

Its shape is the host contract's, documented once in :mod:`hookspecs.status` (``SyncStatus``
and the classes it is made of; ``tests/contract/test_contract_status_shape.py`` holds this module
to it): per organisation its connection, account codes and contact/data sync; per location and
organisation the counts by kind and state and what waits why; the failures one by one (Xero's
message, the hint, the ways out as admin actions), the contacts held on a name, health, the
errors the hooks caught, and the last reconciliation with Xero's books (``books``, read from the
report the pass keeps: :mod:`.books`). ``background_jobs`` is added by the plugin's hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.rules import gate_reason
from pm_xero_plugin.dashboard.books import section as books_section
from pm_xero_plugin.ledger.states import KINDS, STATES, Gate, State
from pm_xero_plugin.xero.kinds import MONEY_FLOW_GROUPS

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.ledger import Row

__all__ = [
    "HELD_GATES",
    "build",
    "contact_conflicts",
    "failure_actions",
    "hint_for",
    "money_flows",
    "row_fields",
]

_MAX_FAILURES = 200
_DEPENDENCY_WAITS = (
    Gate.CONTACT_SYNC,
    Gate.CONTACT,
    Gate.CREDIT_NOTE,
    Gate.INVOICE,
    Gate.DEPOSIT,
    Gate.OVERPAYMENT,
    Gate.PAYMENTS,
)
"""Waits that end by themselves when another record reaches Xero: the organisation's data
sync is still running while rows wait behind them."""
_MOVING = (State.READY, State.SENDING, State.RETRYING)

HELD_GATES = (
    Gate.INVOICE_BEFORE_START,
    Gate.CREDIT_BEFORE_START,
    Gate.LOCK_DATE,
    Gate.CONTACT_NAME_TAKEN,
    Gate.XERO_CHANGED,
)
"""Waiting rows only an admin can move (the dashboard lists them with the failures)."""

_XERO_CHANGED_HINT = (
    "A bookkeeper changed this record in Xero after it was sent, and Pet Manager's edit would "
    "put the old version back. On the Books page: re-send it to send Pet Manager's version over "
    "Xero's, or accept Xero's version (the edit is then not sent)."
)
_REJECTED_HINT = (
    "Pet Manager sent a record the add-on cannot read (see the message). Fix it in Pet Manager "
    "and save it again – the corrected version replaces this one – or resolve to hide it."
)
_BEFORE_START_HINT = (
    "Two ways out: widen the start date to the invoice's date or earlier (the extra history is "
    "back-synced), or send that invoice too ('include parent invoice')."
)
_CREDIT_BEFORE_START_HINT = (
    "Two ways out: widen the start date to the date of the credit it draws on (the deposit, "
    "overpayment or credit note) or earlier (the extra history is back-synced), or send that "
    "record too ('include parent')."
)
_PAYMENTS_HINT = (
    "Some card payments (or card refunds) this payout settles will not reach Xero by themselves "
    "(see which, and why): widen the start date to their dates if they are before it, or fix "
    "and retry them on their own rows. The payout follows by itself once they are all in Xero; "
    "sent before, the clearing account would not return to zero."
)
_PARENT_HINTS = {
    Gate.DEPOSIT: "its deposit",
    Gate.OVERPAYMENT: "the overpayment it refunds",
}
"""Waits on a credit that will not be sent by itself (the row's detail says why)."""
_NAME_TAKEN_HINT = (
    "Xero already has a contact with this name, and it does not carry our contact number, so "
    "it is not adopted silently. If it is this customer, link it (pm-xero resolve ROW "
    "--link-contact [CONTACT_ID]); if not, create ours under a distinct name (pm-xero retry ROW "
    "--distinct-name [NAME]); or rename or archive the other one in Xero and retry. Its "
    "documents wait until then."
)
_LOCK_HINT = (
    "Xero's lock date covers this document's date. Move the lock date in Xero (Settings → "
    "Advanced → Financial settings), then retry; or exclude the record."
)


def hint_for(row: Row) -> str:
    """What the admin should do about a row on the failures list."""
    if row.hint:
        return row.hint
    if row.state == State.REJECTED:
        return _REJECTED_HINT
    if row.gate == Gate.INVOICE_BEFORE_START:
        return _BEFORE_START_HINT
    if row.gate == Gate.CREDIT_BEFORE_START:
        return _CREDIT_BEFORE_START_HINT
    if row.gate == Gate.LOCK_DATE:
        return _LOCK_HINT
    if row.gate == Gate.CONTACT_NAME_TAKEN:
        return _NAME_TAKEN_HINT
    if row.gate == Gate.XERO_CHANGED:
        return _XERO_CHANGED_HINT
    if row.state == State.WAITING and row.gate == Gate.PAYMENTS:
        return _PAYMENTS_HINT
    if row.state == State.WAITING and row.gate in _PARENT_HINTS:
        return (
            f"It waits for {_PARENT_HINTS[Gate(row.gate)]}, which will not reach Xero by itself "
            "(see why): fix that record in Pet Manager, or retry or resolve it on its own row; "
            "this one follows by itself."
        )
    try:
        from pm_xero_plugin.xero.hints import diagnose

        return diagnose(row.message or "", row.kind).hint
    except Exception:  # the hints table is advisory; never break the dashboard for it
        return "See Xero's message; fix the cause, then retry."


def failure_actions(row: Row) -> list[str]:
    """The ways out the dashboard offers for a row on the failures list."""
    if row.state == State.REJECTED:
        return ["resolve"]
    if row.gate == Gate.INVOICE_BEFORE_START:
        return ["widen_start_date", "include_parent_invoice", "exclude"]
    if row.gate == Gate.CREDIT_BEFORE_START:
        return ["widen_start_date", "include_parent", "exclude"]
    if row.gate == Gate.CONTACT_NAME_TAKEN:
        return ["link_contact", "create_distinct", "retry", "exclude"]
    return ["retry", "resolve", "exclude"]


def contact_conflicts(engine: Engine, location_id: str | None) -> list[dict[str, Any]]:
    """Contacts held behind ``contact_name_taken``, each with the Xero contact that has the
    name, the documents waiting for it and the ways out (newest first, capped)."""
    from pm_xero_plugin.invocation import pm_xero

    out = []
    for row, waiting in engine.ledger.contact_conflicts(location_id, limit=_MAX_FAILURES):
        match = row.xero_match
        number, name = engine.our_contact(row)
        try:
            proposed = engine.distinct_name(row)
        except Exception:  # settings being changed: the way out stays, without a suggestion
            proposed = None
        contact_id = (match or {}).get("ContactID")
        link = pm_xero("resolve", str(row.id), "--link-contact", str(contact_id or "CONTACT_ID"))
        out.append(
            {
                "row_id": row.id,
                "host_id": row.host_id,
                "number": row.number,
                "contact_number": number,
                "name": name,
                "location_id": row.location_id or None,
                "tenant_id": row.tenant_id or None,
                "xero_contact": match,
                "message": row.detail,
                "documents_waiting": waiting,
                "ways_out": [
                    {
                        "action": "link_contact",
                        "contact_id": contact_id,
                        "command": link,
                        "says": "it is this customer: link it (our contact number is written "
                        "onto it when it has none); its documents go",
                    },
                    {
                        "action": "create_distinct",
                        "name": proposed,
                        "command": pm_xero("retry", str(row.id), "--distinct-name"),
                        "says": f"it is someone else: create ours as {proposed!r}"
                        if proposed
                        else "it is someone else: create ours under a distinct name",
                    },
                    {
                        "action": "retry",
                        "command": pm_xero("retry", str(row.id)),
                        "says": "renamed or archived the other one in Xero: send ours again",
                    },
                    {
                        "action": "exclude",
                        "command": pm_xero("exclude", str(row.id)),
                        "says": "never send this customer (its documents stay waiting)",
                    },
                ],
            }
        )
    return out


def row_fields(row: Row) -> dict[str, Any]:
    """The fields every row the dashboard lists carries, in the order it shows them: the
    failures list and ``pm-xero status --state …`` (:mod:`.rows`) add their message, hint and
    ways out to these."""
    return {
        "row_id": row.id,
        "kind": row.kind,
        "host_id": row.host_id,
        "number": row.number,
        "date": row.doc_date,
        "location_id": row.location_id or None,
        "tenant_id": row.tenant_id or None,
        "state": row.state,
        "gate": row.gate,
        "message": row.message,
        "field": row.field,
        "hint": None,
        "attempts": row.attempts,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _failure(row: Row) -> dict[str, Any]:
    """One entry of the failures list: Xero's message (else the gate's reason), what to do
    and the ways out."""
    entry = row_fields(row)
    entry["message"] = row.message or gate_reason(row.gate or "", row.detail)
    entry["hint"] = hint_for(row)
    entry["actions"] = failure_actions(row)
    return entry


def money_flows(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """The counts of the money flows' kinds summed by group (:data:`MONEY_FLOW_GROUPS`:
    ``payouts`` = payouts and their fees, ``deposits`` = deposits and their allocations,
    ``refunds`` = the three kinds of refund), state by state: the dashboard's "Stripe payouts"
    beside the documents, as a bookkeeper counts them."""
    return {
        group: {
            state: sum(int((counts.get(kind) or {}).get(state, 0)) for kind in kinds)
            for state in STATES
        }
        for group, kinds in MONEY_FLOW_GROUPS.items()
    }


class _Tally:
    """The ledger's counts folded into sections (per location and organisation) and, per
    organisation, what still moves and how many contacts are held on a name."""

    def __init__(self, locations: Mapping[str, Mapping[str, Any]]) -> None:
        self._locations = locations
        self.sections: dict[tuple[str, str], dict[str, Any]] = {}
        self.active: dict[str, int] = {}
        self.contacts_active: dict[str, int] = {}
        self.conflicts: dict[str, int] = {}

    def section(self, loc: str, tenant: str) -> dict[str, Any]:
        """The section of ``loc`` in ``tenant``, made empty the first time it is asked for."""
        key = (loc, tenant)
        if key not in self.sections:
            self.sections[key] = {
                "location_id": loc or None,
                "location_name": str(self._locations.get(loc, {}).get("name", "")) or None,
                "tenant_id": tenant or None,
                "counts": {kind: dict.fromkeys(STATES, 0) for kind in KINDS},
                "waiting": [],
            }
        return self.sections[key]

    def add(self, c: dict[str, Any]) -> None:
        """Count one ``(location, organisation, kind, state, gate)`` group of rows."""
        tenant, n = c["tenant_id"], c["n"]
        held_contact = c["kind"] == "contact" and c["gate"] == Gate.CONTACT_NAME_TAKEN
        if held_contact and c["state"] == State.WAITING:
            self.conflicts[tenant] = self.conflicts.get(tenant, 0) + n
        s = self.section(c["location_id"], tenant)
        s["counts"].setdefault(c["kind"], dict.fromkeys(STATES, 0))
        s["counts"][c["kind"]][c["state"]] += n
        if c["state"] == State.WAITING:
            s["waiting"].append(
                {
                    "kind": c["kind"],
                    "gate": c["gate"],
                    "count": n,
                    "reason": gate_reason(c["gate"] or ""),
                }
            )
        moving = c["state"] in _MOVING or (
            c["state"] == State.WAITING and c["gate"] in _DEPENDENCY_WAITS
        )
        if moving:
            into = self.contacts_active if c["kind"] == "contact" else self.active
            into[tenant] = into.get(tenant, 0) + n


_DATA_JOBS = ("backfill", "catch_up")
_CONTACT_JOBS = ("start_contact_sync",)


def _jobs_under_way(engine: Engine) -> dict[str, set[str | None]]:
    """For each long action written down and not finished (nor failed: a failed one is on
    health as ``job:<name>``), the locations it covers (``None``: all). A back-sync that has
    not queued its first record yet is still work under way: without this the dashboard said
    "up to date" in the moment after "Start syncing data"."""
    failed = {c.name for c in engine.health.conditions()}
    under_way: dict[str, set[str | None]] = {}
    for intent in engine.pending_jobs():
        if f"job:{intent.name}" in failed:
            continue
        location = intent.args.get("location_id")
        under_way.setdefault(intent.name, set()).add(
            location if isinstance(location, str) else None
        )
    return under_way


def _covers(
    under_way: dict[str, set[str | None]], names: tuple[str, ...], locations: list[str]
) -> bool:
    covered = set().union(*(under_way.get(name, set()) for name in names))
    return None in covered or any(loc in covered for loc in locations)


def _organisation(
    engine: Engine,
    tally: _Tally,
    start: date | None,
    tenant_id: str,
    tenant_locations: list[str],
    under_way: dict[str, set[str | None]],
) -> dict[str, Any]:
    """One organisation's line: connection, account codes, and how far its contact and data
    syncs are (a finished contact sync with contacts still moving is running again, and so is
    a sync whose long action is still written down as under way)."""
    record = engine.ledger.tenant(tenant_id)
    contact_sync = record.contact_sync
    if contact_sync == "finished":
        contact_sync = "running" if tally.contacts_active.get(tenant_id) else "up_to_date"
    if contact_sync != "running" and _covers(under_way, _CONTACT_JOBS, tenant_locations):
        contact_sync = "running"
    if start is None or record.contact_sync != "finished":
        data_sync = "not_started"
    elif any(engine.today(loc) < start for loc in tenant_locations):
        data_sync = "waiting_for_date"
    elif tally.active.get(tenant_id) or _covers(under_way, _DATA_JOBS, tenant_locations):
        data_sync = "running"
    else:
        data_sync = "up_to_date"
    return {
        "tenant_id": tenant_id,
        "locations": tenant_locations,
        "connected": record.connected,
        "connection_reason": record.connection_reason,
        "account_codes": {"state": record.codes_state, "detail": record.codes_detail},
        "contact_sync": contact_sync,
        "contact_conflicts": tally.conflicts.get(tenant_id, 0),
        "data_sync": data_sync,
    }


def _needs_attention(c: dict[str, Any]) -> bool:
    """A counted group the failures list stands for: failed, rejected, or held for an admin."""
    return c["state"] in (State.FAILED, State.REJECTED) or (
        c["state"] == State.WAITING and c["gate"] in HELD_GATES
    )


def build(
    engine: Engine, location_id: str | None, *, failures_limit: int = _MAX_FAILURES
) -> dict[str, Any]:
    """The dashboard data for one location, or for the whole business (``None``);
    ``failures_limit``: how many of each kind of problem to list one by one (a page that
    draws 25 need not read 200)."""
    engine.tick()  # a start date reached since the last look shows as reached
    ledger = engine.ledger
    settings = engine.settings
    locations = engine.locations()
    wanted = [location_id] if location_id is not None else list(locations)
    counts = ledger.counts(location_id=location_id)
    tally = _Tally(locations)
    for loc in wanted:
        tally.section(loc, (settings.tenant_for(loc) if settings else None) or "")
    for c in counts:
        tally.add(c)
    by_tenant = settings.tenants(wanted) if settings else {}
    start = settings.start_date if settings else None
    under_way = _jobs_under_way(engine)
    return {
        "plugin": "xero",
        "generated_at": engine.host.now().isoformat(),
        "enabled": engine.enabled(),
        "start_date": start.isoformat() if start else None,
        "start_date_locked": engine.start_date_locked() is not None,
        "organisations": [
            _organisation(engine, tally, start, tenant_id, tenant_locations, under_way)
            for tenant_id, tenant_locations in sorted(by_tenant.items())
        ],
        "sections": [
            {**section, "money_flows": money_flows(section["counts"])}
            for section in tally.sections.values()
        ],
        "failures": [_failure(row) for row in ledger.problems(location_id, limit=failures_limit)],
        "failures_total": sum(c["n"] for c in counts if _needs_attention(c)),
        "contact_conflicts": contact_conflicts(engine, location_id),
        "contact_conflicts_total": sum(tally.conflicts.values()),
        "health": engine.health.as_list(),
        "plugin_errors": list(engine.hook_errors),
        "books": books_section(ledger.meta, location_id),
    }
