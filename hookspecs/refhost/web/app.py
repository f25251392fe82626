"""The reference host's web front: sign in, the plugin list with its switches, the plugins' pages.

``/login`` (GET the form, POST user name and password), ``/logout`` (GET a page with the
button, POST to sign out), ``/plugins`` (GET the
list; an admin's POST flips a switch) and ``/`` (to the list) are the host's own pages; everything
under ``/plugins/<name>/`` is that plugin's app (:mod:`hookspecs.refhost.web.mounts`).

Every POST of the host's own is refused when the browser says it came from another site
(``Sec-Fetch-Site: cross-site``, or an ``Origin`` other than this server), and – once signed in –
without the session's CSRF token. Staff who are not admins see the plugin list but may not flip
a switch (403).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from hookspecs.pages import Message, Receive, Scope, Send
from hookspecs.refhost.web.mounts import PREFIX, PluginMounts, route_path
from hookspecs.refhost.web.sessions import (
    COOKIE,
    DEMO_STAFF,
    Sessions,
    SignedIn,
    Staff,
    session_key,
)
from hookspecs.refhost.web.templates import render

if TYPE_CHECKING:
    from hookspecs.refhost.host import RefHost

__all__ = ["WebFront"]


class WebFront:
    """The ASGI application of a :class:`~hookspecs.refhost.RefHost`'s web front.

    :param staff: who may sign in (default: the demo's ``alex`` and ``sam``, password
        ``password``; see :data:`~hookspecs.refhost.web.sessions.DEMO_STAFF`).
    :param clock: seconds since the epoch, for the sessions' expiry.
    """

    def __init__(
        self,
        host: RefHost,
        staff: Iterable[Staff] = DEMO_STAFF,
        *,
        clock: Callable[[], float] = time.time,
        allowed_hosts: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.allowed_hosts = list(allowed_hosts) if allowed_hosts is not None else None
        # The host's secret file keys the sessions (under a label of their own): the same
        # private method the host derives each plugin's secret from.
        self.sessions = Sessions(session_key(host._host_secret()), staff, clock=clock)
        self.mounts = PluginMounts(host, signed_in=self.signed_in, csrf=self.sessions.csrf_token)
        self.pages = Starlette(
            routes=[
                Route("/", self._home, methods=["GET"]),
                Route("/login", self._login_form, methods=["GET"]),
                Route("/login", self._login, methods=["POST"]),
                Route("/logout", self._logout_form, methods=["GET"]),
                Route("/logout", self._logout, methods=["POST"]),
                Route("/plugins", self._plugins, methods=["GET"]),
                Route("/plugins", self._switch, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A plugin's page to its app (through the mounts), anything else to the host's pages;
        a request naming another host is refused first (a DNS-rebinding page in the admin's
        browser would otherwise sign in to a loopback front with the demo's passwords)."""
        if self.allowed_hosts is not None and scope["type"] == "http":
            guard = TrustedHostMiddleware(self._route, allowed_hosts=self.allowed_hosts)
            await guard(scope, receive, send)
            return
        await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and PluginMounts.segment_of(route_path(scope)) is not None:
            await self.mounts(scope, receive, send)
        else:
            await self.pages(scope, receive, _with_headers(send))

    def signed_in(self, request: Request) -> SignedIn | None:
        """Who holds this request's session, if anyone."""
        return self.sessions.signed_in(request.cookies.get(COOKIE))

    # -- pages ---------------------------------------------------------------------------------

    async def _home(self, request: Request) -> Response:
        target = PREFIX if self.signed_in(request) else "/login"
        return RedirectResponse(target, status_code=303)

    async def _login_form(self, request: Request) -> Response:
        next_page = _local(request.query_params.get("next"))
        if self.signed_in(request) is not None:
            return RedirectResponse(next_page, status_code=303)
        return HTMLResponse(render("login.html", next=next_page, user="", error=None))

    async def _login(self, request: Request) -> Response:
        refused = _cross_site(request)
        if refused is not None:
            return refused
        form = await request.form()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        next_page = _local(str(form.get("next", "")))
        member = self.sessions.check_password(user, password)
        if member is None:
            page = render(
                "login.html", next=next_page, user=user, error="The user name or password is wrong."
            )
            return HTMLResponse(page, status_code=401)
        previous = self.signed_in(request)
        if previous is not None:  # a sign-in always starts a new session, never keeps one
            self.sessions.close(previous.session_id)
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(
            COOKIE,
            self.sessions.open(member),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def _logout_form(self, request: Request) -> Response:
        """The page a plugin's "Sign out" link leads to: a GET changes nothing, so it offers
        the button (a POST with the token)."""
        session = self.signed_in(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        page = render(
            "sign_out.html",
            member=session.staff,
            csrf=self.sessions.csrf_token(session.session_id),
        )
        return HTMLResponse(page)

    async def _logout(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is not None:
            refused = await self._refused_post(request, session)
            if refused is not None:
                return refused
            self.sessions.close(session.session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def _plugins(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is None:
            return RedirectResponse("/login?next=/plugins", status_code=303)
        said = _said(request.query_params, self.host.plugin_names())
        return HTMLResponse(await run_in_threadpool(self._plugin_list, session, said))

    def _plugin_list(self, session: SignedIn, said: str | None) -> str:
        mounted = self.mounts.apps()
        rows = []
        for name in self.host.plugin_names():
            segment, app = mounted.get(name, (None, None))
            rows.append(
                {
                    "name": name,
                    "title": app.title if app is not None else name,
                    "enabled": self.host.is_enabled(name),
                    "href": f"{PREFIX}/{segment}/" if segment is not None else None,
                }
            )
        return render(
            "plugins.html",
            plugins=rows,
            said=said,
            member=session.staff,
            csrf=self.sessions.csrf_token(session.session_id),
        )

    async def _switch(self, request: Request) -> Response:
        session = self.signed_in(request)
        if session is None:
            return PlainTextResponse("Sign in to Pet Manager first.", status_code=401)
        refused = await self._refused_post(request, session)
        if refused is not None:
            return refused
        if not session.staff.is_admin:
            return PlainTextResponse("Only an admin may switch plugins.", status_code=403)
        form = await request.form()
        name, wanted = str(form.get("plugin", "")), str(form.get("enabled", ""))
        if name not in self.host.plugin_names() or wanted not in ("on", "off"):
            return PlainTextResponse("No such plugin or switch.", status_code=400)
        flip = self.host.enable_plugin if wanted == "on" else self.host.disable_plugin
        await run_in_threadpool(flip, name)
        return RedirectResponse(f"{PREFIX}?{wanted}={name}", status_code=303)

    async def _refused_post(self, request: Request, session: SignedIn) -> Response | None:
        """403 for a POST from another site or without this session's CSRF token."""
        refused = _cross_site(request)
        if refused is not None:
            return refused
        form = await request.form()
        token = form.get("csrf")
        if not self.sessions.csrf_valid(
            session.session_id, token if isinstance(token, str) else None
        ):
            return PlainTextResponse(
                "Refused: the form's security token is missing or wrong. Reload the page and try "
                "again.",
                status_code=403,
            )
        return None


_PAGE_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
"""On every page of the host's own: its forms carry a token (never cached) and its switches must
not be clicked inside another site's frame. A plugin's pages set their own."""


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *_PAGE_HEADERS]}
        await send(message)

    return sending


def _cross_site(request: Request) -> Response | None:
    """403 when the browser says the request was started by another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    # "null" is an opaque origin (a sandboxed frame, a data: page): never this server.
    foreign_origin = origin is not None and (
        origin == "null" or urlsplit(origin).netloc != request.url.netloc
    )
    if fetch_site == "cross-site" or foreign_origin:
        return PlainTextResponse("Refused: this request came from another site.", status_code=403)
    return None


def _local(target: str | None) -> str:
    """``target`` if it is a path on this server, else the plugin list (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return PREFIX
    return target


def _said(query: Any, plugins: list[str]) -> str | None:
    """The line confirming a switch just flipped (only for a plugin that exists)."""
    for state in ("on", "off"):
        name = query.get(state)
        if name in plugins:
            return f"{name} is now {state}."
    return None
