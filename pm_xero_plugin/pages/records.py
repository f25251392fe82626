"""A record's own page: ``GET /records/{row_id}``.

What the ledger holds of one row – kind, number, the host's id, customer, date, amount, state and
why it waits or failed, its Xero id with links to Xero (and the sandbox) – then its history from
the ledger's log, oldest first: each attempt's time, what was sent (the request's element for
it, indented, any secret-looking field hidden), the status code and what Xero answered; and the
buttons its state allows. An unknown row is a 404 page that says so.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pm_xero_plugin.pages.base import Pages
from pm_xero_plugin.pages.dashboard import has_actions_route
from pm_xero_plugin.pages.record_view import Views, pretty_body

__all__ = ["routes"]

_EVENT_WORDS = {
    "sent": "Sent to Xero",
    "synced": "Xero took it",
    "failed": "Xero refused it",
    "retrying": "Will try again",
    "waiting": "Held",
}


def _history(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "at": e["at"].strftime("%Y-%m-%d %H:%M:%S UTC") if e.get("at") else "",
            "event": e["event"],
            "event_words": _EVENT_WORDS.get(e["event"], e["event"].replace("_", " ").capitalize()),
            "request": pretty_body(e.get("request")),
            "status_code": e.get("status_code"),
            "message": e.get("message"),
        }
        for e in entries
    ]


def routes(pages: Pages) -> list[BaseRoute]:
    """``GET /records/{row_id}`` (route name ``record``)."""

    def show(request: Request) -> Response:
        engine = pages.need_engine()
        row_id = int(request.path_params["row_id"])
        row = engine.ledger.get(row_id) if row_id < 2**63 else None  # SQLite ids are 64-bit
        if row is None:
            return pages.render(
                request, "record_missing.html", {"row_id": row_id}, status_code=404, tab="dashboard"
            )
        views = Views(
            engine,
            url_for=request.url_for,
            sandbox_url=pages.sandbox_url(),
            actions_route=has_actions_route(request),
        )
        reply = engine.ledger.last_reply(row_id)
        values = {
            "row": views.row(row),
            "history": _history(engine.ledger.log(row_id)),
            "reply": pretty_body(json.dumps(reply, default=str)) if reply else None,
            "here": request.url.path,
        }
        return pages.render(request, "record.html", values, tab="dashboard")

    return [Route("/records/{row_id:int}", show, name="record")]
