"""Plugin pages: the web application a plugin contributes and how the host mounts it.

A plugin that has pages answers the :func:`hookspecs.spec.web_app` hook with a
:class:`PluginApp`: a name (the path segment), a title for the host's menus and an **ASGI**
application. The host mounts it under its own prefix (the reference host uses
``/plugins/<name>``), sets ``scope["root_path"]`` to that prefix as ASGI says, and calls the
app only for a visitor it has authenticated itself – except for the app's
:attr:`PluginApp.public_paths`, which callers who are not people (a provider's webhooks) reach
without a sign-in.

Who is asking
    Before calling the app the host puts a :class:`PageContext` into the request's scope under
    :data:`SCOPE_KEY`: the authenticated visitor (:class:`Visitor`, with ``is_admin``), the
    practice the request is for, and the few host services a settings page needs
    (:class:`PageServices`). The app trusts nothing else – no header, cookie or query parameter
    says who the visitor is. A request with no context gets 401; a visitor who is not an admin
    of that practice gets 403 on every page and every action. :func:`page_context` reads it.

Who is calling a public path
    For a request whose path below the mount point is exactly one of the app's
    ``public_paths`` (:meth:`PluginApp.is_public`: the same string, character for character – no
    prefix, no trailing slash, no ``..``, nothing percent-encoded in the request line) the host
    skips its sign-in, whatever the method and whether or not a session came with it, and puts a
    :class:`PublicContext` (the practice, no visitor) under :data:`SCOPE_KEY` instead; it passes
    nothing of a session on (the ``Cookie`` header is dropped). Every other path still needs the
    sign-in. While the plugin is switched off a public path gets a plain 503 (no sign-in page: the
    caller is a machine, and a provider retries later); a host that never asked the plugin for
    its app cannot know its public paths, and answers as for any path. The app authenticates
    such a request itself (a webhook's signature) and answers 401 when it cannot;
    :func:`public_context` reads the context.

What the app must do itself
    * Protect every state-changing request (any method but GET/HEAD/OPTIONS) against CSRF. The
      host adds no token of its own: a request the host forwards may have been started by
      another site in the admin's browser.
    * Never put a secret or an OAuth token into a page, a redirect URL or a log.
    * Keep GET requests free of side effects, so that a link or a prefetch changes nothing.

A WSGI host
    Mount the ASGI app with an ASGI-to-WSGI adapter (``a2wsgi.ASGIMiddleware``, which passes
    the WSGI environ in ``scope["wsgi_environ"]`` and makes ``SCRIPT_NAME`` the ``root_path``),
    put the :class:`PageContext` into the environ under :data:`SCOPE_KEY`, and wrap the app in
    :func:`from_wsgi_environ` so it finds it::

        from a2wsgi import ASGIMiddleware
        from hookspecs.pages import SCOPE_KEY, PageContext, from_wsgi_environ

        wsgi_app = ASGIMiddleware(from_wsgi_environ(plugin_app.app))
        PREFIX = "/plugins/xero"

        def mounted(environ, start_response):      # after the host's own login check
            environ[SCOPE_KEY] = PageContext(visitor, practice_id, services)
            environ["SCRIPT_NAME"] += PREFIX        # the prefix moves out of PATH_INFO
            environ["PATH_INFO"] = environ["PATH_INFO"][len(PREFIX):]
            return wsgi_app(environ, start_response)

    A public path is decided before the login check, on ``PATH_INFO`` (already decoded by
    the server) and, to refuse an encoded spelling, on the raw request line where the server
    gives it (``REQUEST_URI``, or gunicorn's ``RAW_URI``)::

        def mounted(environ, start_response):
            rest = environ["PATH_INFO"][len(PREFIX):]
            raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or PREFIX + rest
            if plugin_app.is_public(rest) and raw.split("?")[0].endswith(PREFIX + rest):
                environ[SCOPE_KEY] = PublicContext(practice_id)   # no login, no visitor
                environ.pop("HTTP_COOKIE", None)      # (plugin switched off: a plain 503)
            else:
                ...                     # the host's login check, then the PageContext
            environ["SCRIPT_NAME"] += PREFIX
            environ["PATH_INFO"] = rest
            return wsgi_app(environ, start_response)

    (``tests/contract/test_contract_pages_wsgi.py`` runs this recipe under a WSGI server,
    ``tests/contract/test_contract_public_paths.py`` its public paths.)

Admin actions without the pages
    Everything a page's buttons do is also a hook call a host can make without the plugin's pages
    or CLI: :func:`hookspecs.spec.admin_action` (retry, resolve, exclude, include the parent,
    refresh accounts, disconnect …), and :func:`hookspecs.spec.sync_status` for the data the
    dashboard shows (its documented shape is in :mod:`hookspecs.status`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "PageContext",
    "PageServices",
    "PluginApp",
    "PublicContext",
    "Visitor",
    "from_wsgi_environ",
    "page_context",
    "public_context",
]

SCOPE_KEY = "pet_manager.page"
"""The ASGI scope key (and, for a WSGI host, the environ key) holding the :class:`PageContext`
(or, for a public path, the :class:`PublicContext`)."""

_PUBLIC_PATH: Final = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")
"""What a public path may look like: segments of unreserved characters, none empty, none starting
with a dot (no ``.``/``..``, no hidden names), no trailing slash – nothing a server or a
router might normalise into another path."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application: ``async def app(scope, receive, send)``."""


@dataclass(frozen=True)
class Visitor:
    """The person the host authenticated for this request."""

    user_id: str
    """The host's stable id of the staff member (what a plugin may record as "done by")."""
    name: str
    """The name to show ("Signed in as …"); not unique, never used to decide anything."""
    is_admin: bool
    """Whether this person is an admin of the practice the request is for. Only admins may see
    or change a plugin's pages; everyone else gets 403."""


@runtime_checkable
class PageServices(Protocol):
    """What the host lends a plugin's pages for one request: the settings it owns.

    A plugin's settings belong to the host (it stores them and runs every plugin's
    ``validate_settings`` before accepting a save), so a settings page saves through here, never
    into a store of its own.
    """

    def save_settings(self, plugin: str, settings: Mapping[str, Any]) -> list[str]:
        """Save ``plugin``'s settings exactly as the host's own settings page would.

        Runs every plugin's ``validate_settings``, stores the settings if none objects, then calls
        ``on_settings_saved``. Blocks until those hooks returned.

        :return: the error messages to show beside the form; empty when the settings were saved.
        """
        ...

    def is_enabled(self, plugin: str) -> bool:
        """Whether ``plugin`` is switched on in the host's plugin list."""
        ...

    def set_enabled(self, plugin: str, enabled: bool) -> None:
        """Flip the host's switch for ``plugin`` (as the host's plugin list does)."""
        ...


@dataclass(frozen=True)
class PageContext:
    """Who asks, for which practice, and the host services lent for the request."""

    visitor: Visitor
    practice_id: str
    """The practice the request is for. A plugin serves the practice of the host that started
    it; until the contract has many practices per host process, a host that knows its practice's
    id offers it as ``host.practice_id`` (the reference host does), and a plugin then refuses a
    context for any other practice (404). A host without it mounts one app per practice."""
    services: PageServices
    links: Mapping[str, str] = field(default_factory=dict)
    """The host's own pages a plugin page may link to, as URLs the browser can follow (paths on
    the host's server, its own prefix included): ``"plugins"`` (the plugin list with the on/off
    switches), ``"logout"``, ``"home"``. Absent keys: the host has no such page."""


@dataclass(frozen=True)
class PluginApp:
    """A plugin's web application, as the ``web_app`` hook returns it."""

    name: str
    """The path segment to mount under (``"xero"`` → ``/plugins/xero``); ``[a-z0-9_-]+``."""
    title: str
    """What the host's menus call it ("Xero")."""
    app: ASGIApp
    """The ASGI application. As ASGI says for a mounted app, ``scope["root_path"]`` is the mount
    point and ``scope["path"]`` the whole path (the mount point included), so the app's own links
    and redirects are built from both."""
    public_paths: tuple[str, ...] = ()
    """Paths under the mount point (``"/webhooks/xero"``) that callers who are not people reach
    without the host's sign-in: a provider's webhooks, which prove who they are by a signature
    the app checks itself. The host forwards a request for exactly one of these paths (any
    method, no session needed, nothing of a session passed on) with a :class:`PublicContext`
    under :data:`SCOPE_KEY` instead of a :class:`PageContext`, and answers every other path as
    usual. The app must authenticate such a request itself and answer 401 when it cannot.

    An entry that is not a plain path (see :meth:`is_public`) is never public."""

    def is_public(self, path: str) -> bool:
        """Whether ``path`` – the request's decoded path below the mount point – is exactly one
        of :attr:`public_paths` (and that entry is a plain path: ``/``-separated segments of
        letters, digits and ``._~-``, none empty or starting with a dot, no trailing slash).

        Exact equality is the whole rule: ``/webhooks/xero/``, ``/webhooks/xeroX``,
        ``/webhooks/xero/../settings`` are other paths and need the sign-in (and a single
        string given as ``public_paths`` is no list of paths: nothing is public then)."""
        paths: Any = self.public_paths
        if isinstance(paths, str | bytes):
            return False
        listed = any(isinstance(entry, str) and entry == path for entry in paths)
        return listed and _PUBLIC_PATH.fullmatch(path) is not None


@dataclass(frozen=True)
class PublicContext:
    """What the host tells a plugin's app about a request to one of its ``public_paths``: only
    the practice it is for – there is no visitor."""

    practice_id: str


def page_context(scope: Mapping[str, Any]) -> PageContext | None:
    """The :class:`PageContext` the host put into ``scope``, or ``None`` when it put none (the
    app must then answer 401: the request did not come through the host's login)."""
    context = scope.get(SCOPE_KEY)
    return context if isinstance(context, PageContext) else None


def public_context(scope: Mapping[str, Any]) -> PublicContext | None:
    """The :class:`PublicContext` the host put into ``scope`` for a request to one of the app's
    ``public_paths``, or ``None`` (a request with a :class:`PageContext`, or with none)."""
    context = scope.get(SCOPE_KEY)
    return context if isinstance(context, PublicContext) else None


def from_wsgi_environ(app: ASGIApp) -> ASGIApp:
    """``app``, finding its :class:`PageContext` (or :class:`PublicContext`) in the WSGI
    environ an ASGI-to-WSGI adapter passes as ``scope["wsgi_environ"]`` (``a2wsgi`` does), for
    a host that serves WSGI."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        environ = scope.get("wsgi_environ")
        if isinstance(environ, Mapping) and SCOPE_KEY in environ:
            scope = {**scope, SCOPE_KEY: environ[SCOPE_KEY]}
        await app(scope, receive, send)

    return wrapped
