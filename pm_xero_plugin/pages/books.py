"""The reconciliation page: ``GET /books`` – the host's totals beside Xero's and the records that
differ, each with its actions (docs/reconciliation.md).

It draws the report the last pass kept (:func:`pm_xero_plugin.core.books.load_report`: one read
of the ledger's meta, no call to Xero): per organisation what was checked and read, the calls
spent against its budget, the day totals that differ, then each open difference with what
differs on either side, what to fix where and one button per action that fits (a POST to the
actions route, ``books_accept`` / ``books_resend`` / ``books_relink`` with the difference's
``key`` and the admin's name as ``by``, back here); the decided ones folded below. "Reconcile
now" posts ``reconcile`` (a pass now, its read within the day's budget). A note says when
webhooks are not set up (then only the schedule and "Reconcile now" notice Xero's changes) or
events wait to be handled.

Every form carries the CSRF token (:mod:`pm_xero_plugin.pages.guard` refuses a post without it);
nothing secret is shown – not the webhook key, only whether there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.core.books import BooksReport, Difference, TenantBooks, load_report
from pm_xero_plugin.dashboard.books import ADMIN_ACTIONS, NEVER_RECONCILED, differing_days
from pm_xero_plugin.pages.base import Pages
from pm_xero_plugin.pages.dashboard import has_actions_route
from pm_xero_plugin.pages.record_view import KIND_WORDS

__all__ = ["BUTTON_LABELS", "DIFFERENCE_WORDS", "routes"]

BUTTON_LABELS: Final = {
    "accept": "Accept Xero's version",
    "resend": "Re-send ours",
    "relink": "Re-link",
}
"""Each action's button, as the admin reads it."""
DIFFERENCE_WORDS: Final = {
    "missing_in_xero": "Not in Xero",
    "deleted_in_xero": "Deleted in Xero",
    "voided_in_xero": "Voided in Xero",
    "amount_changed": "Amount changed",
    "contact_changed": "On another contact",
    "details_changed": "Details changed",
    "paid_in_xero": "Paid in Xero",
    "allocated_in_xero": "Allocated in Xero",
}
_DECIDED_WORDS: Final = {
    "accepted": "Xero's version accepted",
    "resent": "re-sent",
    "relinked": "re-linked",
}
_NO_WEBHOOKS: Final = (
    "Webhooks are not set up (no PM_XERO_WEBHOOK_KEY): a change made in Xero is noticed at the "
    "next scheduled pass or when you press Reconcile now, not within seconds."
)


def _difference(d: Difference, locations: Mapping[str, str], actions_route: bool) -> dict[str, Any]:
    return {
        "key": d.key,
        "row_id": d.row_id,
        "kind_words": KIND_WORDS.get(d.kind, d.kind.replace("_", " ")),
        "label": d.label,
        "difference": d.difference,
        "difference_words": DIFFERENCE_WORDS.get(d.difference, d.difference.replace("_", " ")),
        "host": d.host,
        "xero": d.xero,
        "fix": d.fix,
        "day": d.day,
        "location_name": locations.get(d.location_id, d.location_id),
        "buttons": [
            {"action": ADMIN_ACTIONS[a], "label": BUTTON_LABELS[a]}
            for a in d.actions
            if a in ADMIN_ACTIONS and actions_route
        ],
        "decided_words": _DECIDED_WORDS.get(d.decided or "", d.decided or ""),
        "decided_by": d.decided_by,
        "decided_at": d.decided_at,
    }


def _organisation(
    t: TenantBooks,
    names: Mapping[str, str],
    locations: Mapping[str, str],
    actions_route: bool,
) -> dict[str, Any]:
    opened = [d for d in t.differences if d.decided is None]
    return {
        "tenant_id": t.tenant_id,
        "name": names.get(t.tenant_id) or t.name or t.tenant_id,
        "checked": t.checked,
        "not_read": t.not_read,
        "read_at": t.read_at,
        "calls_today": t.calls_today,
        "call_budget": t.call_budget,
        "events_pending": t.events_pending,
        "incomplete": t.incomplete,
        "kinds_not_checked": [KIND_WORDS.get(k, k) for k in t.kinds_not_checked],
        "days": [
            {**asdict(day), "location_name": locations.get(day.location_id, day.location_id)}
            for day in differing_days(t.totals)
        ],
        "day_count": len(t.totals),
        "open": [_difference(d, locations, actions_route) for d in opened],
        "open_total": max(t.differences_total, len(opened)),
        "decided": [
            _difference(d, locations, False) for d in t.differences if d.decided is not None
        ],
    }


def _webhooks_set_up(pages: Pages) -> bool:
    runtime = pages.runtime()
    return runtime is not None and runtime.config.webhook_key is not None


def routes(pages: Pages) -> list[BaseRoute]:
    """``GET /books`` (route name ``books``)."""

    def show(request: Request) -> Response:
        engine = pages.need_engine()
        report: BooksReport | None = load_report(engine.ledger.meta)
        runtime = pages.runtime()
        names: Mapping[str, str] = runtime.client.tenant_names if runtime is not None else {}
        locations = {loc: str(info.get("name") or loc) for loc, info in engine.locations().items()}
        actions_route = has_actions_route(request)
        organisations = (
            [_organisation(t, names, locations, actions_route) for t in report.tenants]
            if report is not None
            else []
        )
        values = {
            "report": report,
            "never": NEVER_RECONCILED,
            "clean": report.clean if report is not None else False,
            "organisations": organisations,
            "events_pending": sum(o["events_pending"] for o in organisations),
            "webhook_note": None if _webhooks_set_up(pages) else _NO_WEBHOOKS,
            "actions_route": actions_route,
            "here": request.url.path,
        }
        return pages.render(request, "books.html", values, tab="books")

    return [Route("/books", show, name="books")]
