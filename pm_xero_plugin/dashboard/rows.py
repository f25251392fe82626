"""The dashboard's row list, filtered: ``pm-xero status --state/--kind/--location/--search/--all``.

The dashboard lists what needs attention (failed, rejected and held rows) a screenful at a time;
with 44 more an admin needs to see them all, or only the failed invoices of one location, or the
row a customer's name appears in, or why 38 records say ``excluded``. This module answers those
from the ledger (:meth:`~pm_xero_plugin.ledger.SqliteLedger.find_rows`) in the same entry shape
the dashboard's ``failures`` use (see :mod:`pm_xero_plugin.dashboard.status`), plus:

* ``why`` – the reason the ledger recorded when the row left the normal path: for an excluded
  row "voided before it reached Xero", "excluded by an admin", "duplicate of the same record in
  …", "removed from the payment in Pet Manager" …;
* ``xero_id`` – the record's id in Xero once it is there.

And per location, why rows are excluded, counted (:func:`excluded_summary`), for the dashboard's
"12 invoices excluded: voided before it reached Xero (11); excluded by an admin (1)" lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.rules import gate_reason
from pm_xero_plugin.dashboard.status import HELD_GATES, failure_actions, hint_for, row_fields
from pm_xero_plugin.ledger.states import State

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.ledger import Row

__all__ = [
    "ATTENTION",
    "HELD_GATES",
    "RowFilter",
    "excluded_summary",
    "find",
    "row_entry",
]

ATTENTION = (State.FAILED, State.REJECTED)
"""States the dashboard lists one by one (with the held rows)."""

_NO_REASON = "no reason recorded"
_UNDOABLE = ("", "excluded by an admin", "resolved by an admin")
"""Exclusion reasons an admin's retry undoes (see ``Engine.exclude`` / ``Engine.resolve``)."""


@dataclass(frozen=True)
class RowFilter:
    """What ``pm-xero status`` was asked to list. No states: the rows needing attention."""

    states: tuple[str, ...] = ()
    kind: str | None = None
    location_id: str | None = None
    search: str | None = None
    limit: int | None = 20

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the default list (and ``--location``) was asked for."""
        return bool(self.states or self.kind or self.search)

    def describe(self) -> str:
        """The filter in words, for the heading over the rows it lists."""
        parts = [f"state {'/'.join(self.states)}" if self.states else "needing attention"]
        if self.kind:
            parts.append(f"kind {self.kind}")
        if self.location_id:
            parts.append(f"location {self.location_id}")
        if self.search:
            parts.append(f"matching {self.search!r}")
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """The filter as ``pm-xero status --json`` echoes it back."""
        return {
            "states": list(self.states) or None,
            "kind": self.kind,
            "location_id": self.location_id,
            "search": self.search,
            "limit": self.limit,
        }


def _actions_for(row: Row) -> list[str]:
    """The ways out the dashboard offers for this row's state (none for a synced one)."""
    if row.state in ATTENTION or (row.state == State.WAITING and row.gate in HELD_GATES):
        return failure_actions(row)
    if row.state == State.EXCLUDED:
        # an admin's "never send" can be taken back (it goes through the sync rules again);
        # a record voided before it was sent, a duplicate or a superseded version cannot
        return ["retry"] if (row.detail or "") in _UNDOABLE else []
    if row.state in (State.WAITING, State.READY, State.RETRYING):
        return ["exclude"]
    return []


def row_entry(row: Row) -> dict[str, Any]:
    """One row as the dashboard lists it (the ``failures`` entry shape, plus ``why``)."""
    problem = row.state in ATTENTION or (row.state == State.WAITING and row.gate in HELD_GATES)
    message = row.message
    if row.state == State.WAITING:
        message = message or gate_reason(row.gate or "", row.detail)
    entry = row_fields(row)
    entry["message"] = message
    entry["why"] = (row.detail or _NO_REASON) if row.state == State.EXCLUDED else None
    entry["hint"] = hint_for(row) if problem else None
    entry["xero_id"] = row.xero_id
    entry["actions"] = _actions_for(row)
    return entry


def find(engine: Engine, wanted: RowFilter) -> tuple[list[dict[str, Any]], int]:
    """The matching rows (newest first, at most ``wanted.limit``) and how many match in all."""
    asked = set(wanted.states)
    states: Sequence[str]
    held: Sequence[str]
    if "all" in asked:
        states, held = (), ()  # no condition on the state at all
    elif not asked:
        states, held = ATTENTION, HELD_GATES
    else:
        states = [s for s in wanted.states if s != "held"]
        held = HELD_GATES if "held" in asked else ()
    rows, total = engine.ledger.find_rows(
        states=states,
        held_gates=held,
        kind=wanted.kind,
        location_id=wanted.location_id,
        search=wanted.search,
        limit=wanted.limit,
    )
    return [row_entry(r) for r in rows], total


def excluded_summary(engine: Engine, location_id: str | None) -> dict[tuple[str, str], list[Any]]:
    """(location, organisation) -> ``[{"kind", "count", "reasons": [{"reason", "count"}]}]``."""
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for item in engine.ledger.excluded_reasons(location_id):
        key = (str(item["location_id"] or ""), str(item["tenant_id"] or ""))
        kinds = out.setdefault(key, {})
        entry = kinds.setdefault(item["kind"], {"kind": item["kind"], "count": 0, "reasons": []})
        entry["count"] += int(item["n"])
        entry["reasons"].append({"reason": item["reason"] or _NO_REASON, "count": int(item["n"])})
    return {key: list(kinds.values()) for key, kinds in out.items()}
