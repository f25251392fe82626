"""The dashboard's ``books`` section: the last reconciliation with Xero, as kept.

A reconciliation pass (:mod:`pm_xero_plugin.sync.books`) keeps its
:class:`~pm_xero_plugin.core.books.BooksReport` in the ledger's meta; the dashboard reads it
back – one meta read, no call to Xero – and shows per organisation the pass's facts (records
checked, when Xero was read, the calls spent against the budget, webhook events pending, why a
read is incomplete), the first open differences with the admin actions that fit, and the day
totals that differ. Its shape is :class:`hookspecs.status.BooksStatus`. ``None`` when no pass
ever ran (:data:`NEVER_RECONCILED` says so in words).

The differences' ``actions`` are named as :func:`hookspecs.spec.admin_action` takes them
(``books_accept`` …, param ``key``), like every other way out on the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pm_xero_plugin.core.books import BooksReport, DayTotal, Difference, TenantBooks, load_report

__all__ = [
    "ADMIN_ACTIONS",
    "DAYS_SHOWN",
    "DIFFERENCES_SHOWN",
    "NEVER_RECONCILED",
    "differing_days",
    "section",
    "section_of",
]

DIFFERENCES_SHOWN: Final = 20
"""Open differences listed per organisation (``differences_total`` counts them all)."""
DAYS_SHOWN: Final = 31
"""Differing day totals listed per organisation (a month of days)."""
NEVER_RECONCILED: Final = (
    "Not reconciled with Xero yet: the first pass runs on its schedule, or now with "
    "'Reconcile now' (pm-xero reconcile)."
)
ADMIN_ACTIONS: Final = {
    "accept": "books_accept",
    "resend": "books_resend",
    "relink": "books_relink",
}
"""A difference's actions (:data:`pm_xero_plugin.core.books.ACTIONS`) as ``admin_action``
names them."""


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return None


def _differs(total: DayTotal) -> bool:
    """Whether a day total's sides differ. A kind whose Xero side is not read back never does
    (its Xero numbers say nothing); records still on their way (``pending``) and records whose
    Xero version is not read yet (``not_read``) are no difference, so with either only the
    counts must add up; with neither the amounts must match too."""
    if not total.checked:
        return False
    unseen = total.pending + total.not_read
    if total.host_count != total.xero_count + unseen:
        return True
    return unseen == 0 and _amount(total.host_total) != _amount(total.xero_total)


def differing_days(totals: Sequence[DayTotal]) -> list[DayTotal]:
    """The day totals whose two sides differ, in the report's order."""
    return [t for t in totals if _differs(t)]


def _difference(d: Difference) -> dict[str, Any]:
    return {
        "key": d.key,
        "row_id": d.row_id,
        "kind": d.kind,
        "location_id": d.location_id or None,
        "day": d.day,
        "label": d.label,
        "difference": d.difference,
        "host": d.host,
        "xero": d.xero,
        "actions": [ADMIN_ACTIONS.get(a, a) for a in d.actions],
        "fix": d.fix,
    }


def _day(t: DayTotal) -> dict[str, Any]:
    return {
        "location_id": t.location_id,
        "day": t.day,
        "kind": t.kind,
        "host_count": t.host_count,
        "host_total": t.host_total,
        "xero_count": t.xero_count,
        "xero_total": t.xero_total,
        "pending": t.pending,
        "not_read": t.not_read,
    }


def _organisation(t: TenantBooks, location_id: str | None) -> dict[str, Any] | None:
    differences = [d for d in t.differences if location_id is None or d.location_id == location_id]
    totals = [d for d in t.totals if location_id is None or d.location_id == location_id]
    if location_id is not None and not differences and not totals:
        return None
    opened = [d for d in differences if d.decided is None]
    days = differing_days(totals)
    return {
        "tenant_id": t.tenant_id,
        "name": t.name,
        "checked": t.checked,
        "not_read": t.not_read,
        "read_at": t.read_at,
        "calls_today": t.calls_today,
        "call_budget": t.call_budget,
        "events_pending": t.events_pending,
        "incomplete": t.incomplete,
        "kinds_not_checked": list(t.kinds_not_checked),
        "differences_total": t.differences_total if location_id is None else len(opened),
        "decided_total": len(differences) - len(opened),
        "differences": [_difference(d) for d in opened[:DIFFERENCES_SHOWN]],
        "day_totals": [_day(d) for d in days[:DAYS_SHOWN]],
        "day_totals_total": len(days),
    }


def section_of(report: BooksReport | None, location_id: str | None = None) -> dict[str, Any] | None:
    """The section for ``report`` (``None`` → ``None``); for one location, only its records
    (an organisation it has nothing in is left out; its totals are then counted from the list)."""
    if report is None:
        return None
    organisations = [_organisation(t, location_id) for t in report.tenants]
    kept = [o for o in organisations if o is not None]
    clean = all(not o["differences_total"] and o["incomplete"] is None for o in kept)
    return {"generated_at": report.generated_at, "clean": clean, "organisations": kept}


def section(meta: Any, location_id: str | None = None) -> dict[str, Any] | None:
    """The section from the report a ledger keeps (``meta``: the ledger's ``meta`` method)."""
    return section_of(load_report(meta), location_id)
