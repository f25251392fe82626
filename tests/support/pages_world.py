"""The admin's pages without a browser: the plugin's ASGI app under Starlette's TestClient.

:func:`as_visitor` stands in for the host's login: it wraps the app so that every request carries
the :class:`hookspecs.pages.PageContext` a host would put into the scope. :class:`HostServices`
lends the reference host's settings store the way :mod:`hookspecs.pages` says a host must.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient

from hookspecs.pages import SCOPE_KEY, ASGIApp, PageContext, Receive, Scope, Send, Visitor
from hookspecs.refhost import RefHost

ADMIN = Visitor(user_id="u-admin", name="Alex Admin", is_admin=True)
STAFF = Visitor(user_id="u-staff", name="Sam Staff", is_admin=False)
PREFIX = "/plugins/xero"


@dataclass
class HostServices:
    """The reference host's settings, lent to a page (``hookspecs.pages.PageServices``)."""

    host: RefHost

    def save_settings(self, plugin: str, settings: Mapping[str, Any]) -> list[str]:
        return self.host.save_plugin_settings(plugin, settings)

    def is_enabled(self, plugin: str) -> bool:
        return self.host.is_enabled(plugin)

    def set_enabled(self, plugin: str, enabled: bool) -> None:
        if enabled:
            self.host.enable_plugin(plugin)
        else:
            self.host.disable_plugin(plugin)


def as_visitor(app: ASGIApp, context: PageContext | None) -> ASGIApp:
    """``app`` as the host mounts it, for one visitor (``None``: a request past no login)."""

    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        if context is not None:
            scope = {**scope, SCOPE_KEY: context}
        await app(scope, receive, send)

    return mounted


def plugin_app() -> ASGIApp:
    """The Xero add-on's app, as its ``web_app`` hook returns it."""
    from pm_xero_plugin import plugin

    contributed = plugin.web_app()
    assert contributed is not None
    return contributed.app


def client_for(
    host: RefHost,
    visitor: Visitor | None = ADMIN,
    *,
    practice_id: str = "practice-1",
    app: ASGIApp | None = None,
) -> TestClient:
    """A TestClient on the add-on's pages as ``visitor`` sees them (mounted at ``/``)."""
    context = (
        PageContext(
            visitor=visitor,
            practice_id=practice_id,
            services=HostServices(host),
            links={"plugins": "/plugins", "logout": "/logout"},
        )
        if visitor is not None
        else None
    )
    return TestClient(
        as_visitor(app or plugin_app(), context),
        base_url="http://testserver",
        follow_redirects=False,
    )


_CSRF = re.compile(r'(?:name="csrf" value|data-csrf)="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a rendered page carries (in its forms, and on ``<body data-csrf>``)."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)
