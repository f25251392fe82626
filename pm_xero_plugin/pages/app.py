"""The add-on's web application: every page module's routes behind one guard.

Built once per ``web_app`` hook call (:func:`build_app`); the host mounts it (see
:mod:`hookspecs.pages`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pm_xero_plugin.pages import (
    actions,
    books,
    connect,
    contacts,
    dashboard,
    records,
    settings,
    start,
)
from pm_xero_plugin.pages import webhooks as webhook_routes
from pm_xero_plugin.pages.base import NotReady, Pages
from pm_xero_plugin.pages.guard import Guard

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.pages.webhooks import WebhookSink
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["build_app"]

STATIC = Path(__file__).parent / "static"
PAGE_MODULES = (settings, connect, contacts, start, dashboard, records, actions, books)


def build_app(
    *,
    engine: Callable[[], Engine | None],
    runtime: Callable[[], XeroRuntime | None],
    secret: Callable[[], bytes | None],
    practice_id: Callable[[], str | None] = lambda: None,
    sandbox_url: Callable[[], str | None] = lambda: None,
    start_contact_sync: Callable[[str | None], None] | None = None,
    backfill: Callable[[str | None, date | None], None] | None = None,
    webhooks: WebhookSink | None = None,
    reconcile: Callable[[dict[str, str]], str] | None = None,
) -> Guard:
    """The ASGI app: the pages, their static files, Xero's webhook endpoint, and the guard in
    front of them all.

    ``start_contact_sync`` and ``backfill`` are the plugin's hooks of those names (the pages
    start that long work the way the host would; ``reconcile`` runs "Reconcile now" on the
    job thread and says so). ``webhooks`` keeps what Xero posts to
    :data:`~pm_xero_plugin.pages.webhooks.WEBHOOK_PATH` (``None``: every call there gets 401);
    the ``PluginApp`` must list that path in its ``public_paths`` for a host to forward it."""
    pages = Pages(engine=engine, runtime=runtime, secret=secret, sandbox_url=sandbox_url)
    if start_contact_sync is not None:
        pages.start_contact_sync = start_contact_sync
    if backfill is not None:
        pages.backfill = backfill
    pages.reconcile = reconcile
    routes: list[BaseRoute] = [
        Route("/", _home, name="home"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    for module in PAGE_MODULES:
        routes.extend(module.routes(pages))
    routes.extend(webhook_routes.routes(webhooks))

    def not_ready(request: Request, exc: Exception) -> Response:
        return pages.render(request, "not_ready.html", {"reason": str(exc)}, status_code=503)

    app = Starlette(routes=routes, exception_handlers={NotReady: not_ready})
    return Guard(
        app, secret=secret, practice_id=practice_id, public_paths=(webhook_routes.WEBHOOK_PATH,)
    )


def _home(request: Request) -> Response:
    return RedirectResponse(request.url_for("dashboard"), status_code=303)
