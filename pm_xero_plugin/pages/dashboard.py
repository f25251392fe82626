"""The Accounting dashboard: ``GET /dashboard``.

Top to bottom: what stops the add-on (the health conditions), per organisation its connection,
account codes, contact sync and data sync ("Up to date" once nothing moves), per location and
organisation the counts by kind and state and why records wait; then the failures one by one
with Xero's message, the field, what to do and the buttons; a short "Books" panel with the
last reconciliation with Xero, linking to its page (:mod:`.books`); then the search over every
record (number, customer, state, kind, dates, organisation, location), a page at a time.

The live part (everything above the search) is re-fetched every 3 s by ``app.js`` while work
moves (``data-refresh="3"``) and left alone once it stops (``"0"``). The data is
:func:`pm_xero_plugin.dashboard.status.build` – ``sync_status``'s – and the ledger's
:meth:`~pm_xero_plugin.ledger.Ledger.search_rows`: indexed reads only, so the page costs the
same at a million records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, NoMatchFound, Route

from pm_xero_plugin.dashboard.books import NEVER_RECONCILED
from pm_xero_plugin.dashboard.status import build as build_status
from pm_xero_plugin.ledger import KINDS, STATES
from pm_xero_plugin.pages.base import Pages
from pm_xero_plugin.pages.record_view import KIND_WORDS, STATE_WORDS, Views, number_label
from pm_xero_plugin.pages.search_form import encode_after, read_search

__all__ = ["FAILURES_SHOWN", "PAGE_SIZE", "has_actions_route", "routes", "sync_words"]

PAGE_SIZE: Final = 50
"""Records per page of the search."""
FAILURES_SHOWN: Final = 25
"""Failures drawn one by one, with their buttons (newest first); the search lists the rest."""

_SYNC_WORDS: Final = {
    "not_started": "Not started",
    "waiting_for_date": "Waiting for the start date",
    "running": "Syncing",
    "up_to_date": "Up to date",
}
_CODES_WORDS: Final = {
    "ok": "Account codes set and checked",
    "missing": "Account codes not set",
    "unverified": "Account codes not checked against Xero yet",
    "invalid": "Account codes do not match the organisation's chart",
}
_MOVING_STATES: Final = ("ready", "sending", "retrying")


def sync_words(state: str) -> str:
    """A contact or data sync state in words ("Up to date" for ``up_to_date``)."""
    return _SYNC_WORDS.get(state, state.replace("_", " "))


def has_actions_route(request: Request) -> bool:
    """Whether the app has the actions route the buttons post to."""
    try:
        request.url_for("action", action="retry")
    except NoMatchFound:
        return False
    return True


def _moving(status: dict[str, Any]) -> bool:
    """Whether work is moving (the live part keeps refreshing until it stops)."""
    for org in status.get("organisations", []):
        if "running" in (org.get("contact_sync"), org.get("data_sync")):
            return True
    return any(
        counts.get(state, 0)
        for section in status.get("sections", [])
        for counts in section["counts"].values()
        for state in _MOVING_STATES
    )


def _organisations(
    status: dict[str, Any], names: Mapping[str, str], locations: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each organisation as the admin knows it: by its name in Xero (as Xero's connections name
    it, once read) and its locations' names, the ids kept for the title."""
    out = []
    for org in status.get("organisations", []):
        codes = org.get("account_codes") or {}
        out.append(
            {
                **org,
                "name": names.get(org["tenant_id"]) or org["tenant_id"],
                "location_names": [
                    str(locations.get(loc, {}).get("name") or loc) for loc in org["locations"]
                ],
                "codes_words": _CODES_WORDS.get(codes.get("state", ""), codes.get("state", "")),
                "codes_detail": codes.get("detail"),
                "codes_state": codes.get("state"),
                "contact_words": sync_words(org.get("contact_sync", "")),
                "data_words": sync_words(org.get("data_sync", "")),
            }
        )
    return out


def _sections(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Each section's counts as rows of a table: only kinds and states that have records."""
    out = []
    for section in status.get("sections", []):
        counts = section["counts"]
        kinds = [k for k in counts if any(counts[k].values())]
        states = [s for s in STATES if any(counts[k].get(s, 0) for k in kinds)]
        out.append(
            {
                **section,
                "states": states,
                "table": [
                    (KIND_WORDS.get(k, k), [counts[k].get(s, 0) for s in states]) for k in kinds
                ],
            }
        )
    return out


def routes(pages: Pages) -> list[BaseRoute]:
    """``GET /dashboard`` (route name ``dashboard``)."""

    def show(request: Request) -> Response:
        engine = pages.need_engine()
        status = build_status(engine, None, failures_limit=FAILURES_SHOWN)
        runtime = pages.runtime()
        names: Mapping[str, str] = runtime.client.tenant_names if runtime is not None else {}
        views = Views(
            engine,
            url_for=request.url_for,
            sandbox_url=pages.sandbox_url(),
            actions_route=has_actions_route(request),
        )
        settings = engine.settings
        search = read_search(request.query_params, settings.prefixes if settings else None)
        page = engine.ledger.search_rows(search.query, after=search.after, limit=PAGE_SIZE)
        views.customers(page.rows)
        failures = [
            {
                **f,
                "kind_words": KIND_WORDS.get(f["kind"], f["kind"]),
                "state_words": STATE_WORDS.get(f["state"], f["state"]),
                "number_label": number_label(f["kind"], f.get("number"), views.prefixes),
                "href": views.record_url(f["row_id"]),
                "buttons": views.buttons(f.get("actions", [])),
            }
            for f in status.get("failures", [])[:FAILURES_SHOWN]
        ]
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        values = {
            "status": status,
            "refresh": "3" if _moving(status) else "0",
            "organisations": _organisations(status, names, engine.locations()),
            "tenant_names": names,
            "location_names": {
                loc: str(info.get("name") or loc) for loc, info in engine.locations().items()
            },
            "sections": _sections(status),
            "failures": failures,
            "search": search,
            "rows": [views.row(r) for r in page.rows],
            "page": page,
            "next_link": search.link(after=encode_after(page.next_after))
            if page.next_after
            else None,
            "first_link": search.link(after=None) if search.after else None,
            "kinds": [(k, KIND_WORDS.get(k, k)) for k in KINDS],
            "states": [(s, STATE_WORDS.get(s, s)) for s in STATES],
            "state_words": STATE_WORDS,
            "tenants": sorted({o["tenant_id"] for o in status.get("organisations", [])}),
            "locations": sorted(engine.locations().items()),
            "here": here,
            "books_never": NEVER_RECONCILED,
            "books_open": sum(
                o["differences_total"] for o in (status.get("books") or {}).get("organisations", [])
            ),
        }
        return pages.render(request, "dashboard.html", values, tab="dashboard")

    return [Route("/dashboard", show, name="dashboard")]
