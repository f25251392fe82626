"""The Contact sync page: start it, watch it progress, and see what it found.

Per organisation: where the contact sync is (not started / running, with how many contacts are
in Xero of how many / up to date), read from the dashboard's own data
(:func:`pm_xero_plugin.dashboard.status.build`); the *matches* – customers linked to a contact
Xero already had (by our contact number, or by an admin) instead of created again, as the ledger
records them (:meth:`~pm_xero_plugin.ledger.interface.Ledger.found_in_xero`, each with the line
its history says); and the *clashes* – contacts held because Xero gives their name to a contact
that is not ours (:func:`~pm_xero_plugin.dashboard.status.contact_conflicts`), each with its ways
out as buttons posting to ``/actions/…``.

"Start contact sync" (``POST /contacts/start``) calls the plugin's own ``start_contact_sync``
hook, as the host's button would: the job is written down in the ledger first and streamed in
the background, so the page answers at once and a restart resumes it. While anything moves the
page refreshes itself (``data-refresh``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.dashboard.status import build
from pm_xero_plugin.ledger.states import State
from pm_xero_plugin.pages.base import Pages

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = ["MATCHES_SCANNED", "MATCHES_SHOWN", "matches", "routes"]

MATCHES_SCANNED = 5000
"""How many of the newest synced contacts are looked at for matches (an admin's page, not the
hot path: the ledger reads them in one query, and whether each was found in one more)."""

MATCHES_SHOWN = 50
"""Matches listed one by one per page (all are counted among those scanned)."""

_FOUND_EVENTS = ("matched", "linked_existing", "adopted", "linked")
"""The history lines that say how a contact was found in Xero (the sender's and the admin's)."""

_STATE_WORDS = {
    "not_started": "Not started",
    "running": "Running",
    "up_to_date": "Up to date",
}


def _contact_counts(status: Mapping[str, Any], tenant_id: str) -> dict[str, int]:
    """The contact rows of one organisation by state, over all its sections."""
    totals: dict[str, int] = {}
    for section in status.get("sections") or []:
        if section.get("tenant_id") != tenant_id:
            continue
        for state, n in (section.get("counts") or {}).get("contact", {}).items():
            totals[state] = totals.get(state, 0) + int(n)
    return totals


def _organisations(
    engine: Engine, status: Mapping[str, Any], tenant_names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Each organisation's contact sync in words, with its progress."""
    names = {loc: str(v.get("name") or loc) for loc, v in engine.locations().items()}
    out = []
    for org in status.get("organisations") or []:
        tenant = str(org["tenant_id"])
        counts = _contact_counts(status, tenant)
        total = sum(counts.values())
        done = counts.get(State.SYNCED, 0)
        state = str(org.get("contact_sync") or "not_started")
        out.append(
            {
                "tenant_id": tenant,
                "name": tenant_names.get(tenant),
                "locations": [names.get(loc, loc) for loc in org.get("locations") or []],
                "state": state,
                "state_words": _STATE_WORDS.get(state, state),
                "synced": done,
                "total": total,
                "failed": counts.get(State.FAILED, 0),
                "excluded": counts.get(State.EXCLUDED, 0),
                "held": int(org.get("contact_conflicts") or 0),
                "percent": int(100 * done / total) if total else 0,
                "connected": bool(org.get("connected")),
                "connection_reason": org.get("connection_reason"),
            }
        )
    return out


def matches(
    engine: Engine, *, limit: int = MATCHES_SHOWN
) -> tuple[list[dict[str, Any]], int, bool]:
    """Contacts the sync linked to one Xero already had (newest first, at most ``limit``), how
    many of the newest :data:`MATCHES_SCANNED` synced contacts were such matches, and whether
    those were all the synced contacts."""
    rows, synced = engine.ledger.find_rows(
        states=(State.SYNCED,), kind="contact", limit=MATCHES_SCANNED
    )
    by_tenant: dict[str, list[str]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row.host_id)
    found = {
        (tenant, host_id)
        for tenant, host_ids in by_tenant.items()
        for host_id in engine.ledger.found_in_xero("contact", host_ids, tenant)
    }
    hits = [row for row in rows if (row.tenant_id, row.host_id) in found]
    shown = []
    for row in hits[:limit]:
        said = [e for e in engine.ledger.log(row.id) if e["event"] in _FOUND_EVENTS]
        number, name = engine.our_contact(row)
        shown.append(
            {
                "row_id": row.id,
                "tenant_id": row.tenant_id,
                "name": name or row.host_id,
                "contact_number": number,
                "xero_id": row.xero_id,
                "how": said[-1]["message"] if said else "found in Xero",
            }
        )
    return shown, len(hits), synced <= len(rows)


def _view(engine: Engine, tenant_names: Mapping[str, str]) -> dict[str, Any]:
    """Everything the page shows, read once (``tenant_names``: the organisations' names as
    Xero's connections gave them, when connected)."""
    status = build(engine, None)
    organisations = _organisations(engine, status, tenant_names)
    linked = {loc for org in status.get("organisations") or [] for loc in org["locations"]}
    unlinked = [
        str(v.get("name") or loc) for loc, v in engine.locations().items() if loc not in linked
    ]
    found, found_total, every_contact = matches(engine)
    starting = [i for i in engine.pending_jobs() if i.name == "start_contact_sync"]
    moving = bool(starting) or any(o["state"] == "running" for o in organisations)
    return {
        "organisations": organisations,
        "unlinked": unlinked,
        "locations": [(loc, str(v.get("name") or loc)) for loc, v in engine.locations().items()],
        "matches": found,
        "matches_total": found_total,
        "matches_scanned": None if every_contact else MATCHES_SCANNED,
        "conflicts": status.get("contact_conflicts") or [],
        "conflicts_total": int(status.get("contact_conflicts_total") or 0),
        "starting": bool(starting),
        "refresh": 3 if moving else 0,
    }


def routes(pages: Pages) -> list[BaseRoute]:
    """``GET /contacts`` (route ``contacts``) and ``POST /contacts/start``."""

    def show(request: Request) -> Response:
        engine = pages.need_engine()
        runtime = pages.runtime()
        values = _view(engine, runtime.client.tenant_names if runtime is not None else {})
        values["here"] = urlsplit(str(request.url_for("contacts"))).path
        return pages.render(request, "contacts.html", values, tab="contacts")

    def start(request: Request, location_id: str) -> Response:
        engine = pages.need_engine()
        locations = engine.locations()
        if location_id and location_id not in locations:
            return pages.back(request, "contacts", f"unknown location {location_id!r}")
        settings = engine.settings
        targets = [location_id] if location_id else list(locations)
        linked = [loc for loc in targets if settings is not None and settings.tenant_for(loc)]
        if not linked:
            return pages.back(
                request,
                "contacts",
                "No location is linked to a Xero organisation yet: choose one on the Settings "
                "page (Connect to Xero), then start the contact sync",
            )
        pages.start_contact_sync(location_id or None)
        where = str(locations[location_id].get("name") or location_id) if location_id else None
        said = (
            f"Contact sync started for {where or 'every linked location'}: customers are sent "
            "to Xero first; the documents follow once it finishes"
        )
        return pages.back(request, "contacts", said)

    async def post_start(request: Request) -> Response:
        form = await request.form()
        value = form.get("location_id")
        location_id = value.strip() if isinstance(value, str) else ""
        return await run_in_threadpool(start, request, location_id)

    return [
        Route("/contacts", show, name="contacts"),
        Route("/contacts/start", post_start, methods=["POST"], name="contacts_start"),
    ]
