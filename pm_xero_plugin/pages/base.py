"""What every page shares: the engine and runtime it reads, the templates, and ``render``.

A page module exposes ``routes(pages: Pages) -> list[BaseRoute]``; its handlers are plain
(synchronous) functions, which Starlette runs in its thread pool, because everything they call –
the ledger, Xero's client – blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from hookspecs.pages import PageContext
from pm_xero_plugin.pages.guard import CSRF_FIELD, context_of, csrf_token, flash_of, said_query

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["PLUGIN", "TEMPLATES", "NotReady", "Pages"]

PLUGIN = "xero"
TEMPLATES = Path(__file__).parent / "templates"

NAV = (
    ("settings", "Settings"),
    ("contacts", "Contact sync"),
    ("start", "Start syncing data"),
    ("dashboard", "Accounting dashboard"),
    ("books", "Books"),
)
"""The tabs at the top of every page: (route name, label)."""


class NotReady(Exception):
    """The add-on has not started (no engine): pages say so instead of failing."""


@dataclass
class Pages:
    """The add-on as the pages see it; built by :func:`pm_xero_plugin.pages.app.build_app`.

    :param engine: the engine now (``None`` before ``pm_startup`` or while the ledger is out).
    :param runtime: the Xero side now (``None`` when no Xero app is configured).
    :param secret: the add-on's secret from the host (keys the CSRF tokens).
    :param sandbox_url: when Xero is the sandbox, its root, for "view in the sandbox" links.
    :param start_contact_sync: / :param backfill: the plugin's own hooks of those names: the
        long work a page starts goes the way the host's call would (written down in the
        ledger, run in the background), never inside the request.
    :param reconcile: the plugin's ``admin_action("reconcile", params)``: a reconciliation with
        Xero's books on the job thread, its sentence back (``None``: the pages run it
        themselves, as the CLI does).
    """

    engine: Callable[[], Engine | None]
    runtime: Callable[[], XeroRuntime | None]
    secret: Callable[[], bytes | None]
    sandbox_url: Callable[[], str | None] = lambda: None
    start_contact_sync: Callable[[str | None], None] = field(default=lambda location_id: _unwired())
    backfill: Callable[[str | None, date | None], None] = field(
        default=lambda location_id, since: _unwired()
    )
    reconcile: Callable[[dict[str, str]], str] | None = None
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def need_engine(self) -> Engine:
        """The engine, or :class:`NotReady` (the app turns it into a page that says so)."""
        engine = self.engine()
        if engine is None:
            raise NotReady("the Xero add-on has not started yet")
        return engine

    def render(
        self,
        request: Request,
        template: str,
        values: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        tab: str | None = None,
    ) -> HTMLResponse:
        """``template`` rendered with ``values`` and what every page needs: the visitor, the
        CSRF token for its forms, the tabs and the host's links."""
        context = context_of(request)
        secret = self.secret()
        body = self.env.get_template(template).render(
            **(values or {}),
            visitor=context.visitor,
            host_links=dict(context.links),
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(secret, context) if secret is not None else "",
            nav=[(name, label, request.url_for(name)) for name, label in NAV],
            tab=tab,
            url_for=request.url_for,
            static=lambda path: request.url_for("static", path=path),
            flash=flash_of(request),
        )
        return HTMLResponse(body, status_code=status_code, headers=_NO_STORE)

    @staticmethod
    def back(request: Request, route: str, said: str = "", **params: str) -> RedirectResponse:
        """Post/redirect/get: back to ``route`` with a one-line message (``said``) to show."""
        url = request.url_for(route, **params)
        query = said_query(request, said)
        return RedirectResponse(
            str(url.include_query_params(**query)) if query else str(url), status_code=303
        )

    @staticmethod
    def context(request: Request) -> PageContext:
        """Who asks and for which practice (see :mod:`hookspecs.pages`)."""
        return context_of(request)


_NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self' *",
    "Referrer-Policy": "same-origin",
}
"""Pages hold personal data: not cached, not framed by another site."""


def _unwired() -> None:
    raise NotReady("the add-on's background jobs are not wired to the pages")
