"""The plugins' web applications, mounted under ``/plugins/<name>`` as :mod:`hookspecs.pages` says.

Each plugin's :class:`~hookspecs.pages.PluginApp` is asked for through the ``web_app`` hook the
first time a page under ``/plugins/`` is needed after the plugin has started – the way the host
calls every hook, each plugin on its own and never raising – and kept. A plugin switched on later
is asked then. A request reaches a plugin's app only:

* with a session (else a GET is sent to ``/login?next=…`` and anything else gets 401);
* while the plugin is on (else the host says it is off and links to the switch; the plugin's app
  is not called);

and it arrives as ASGI mounts an app: a fresh scope whose ``root_path`` is the prefix and whose
``path`` is the full path, with the :class:`~hookspecs.pages.PageContext` under
:data:`~hookspecs.pages.SCOPE_KEY`. Nothing of the host's own routing is left in the scope (a
Starlette app would otherwise build its links from the host's router).

One exception: a request for exactly one of the app's
:attr:`~hookspecs.pages.PluginApp.public_paths` (a webhook endpoint) is forwarded without a
session, any method, with a :class:`~hookspecs.pages.PublicContext` instead and without the
``Cookie`` header – a session that happens to come along is not passed on. "Exactly" is
:meth:`~hookspecs.pages.PluginApp.is_public` on the decoded path, and the raw request line must
spell it the same (``raw_path``): ``/webhooks/xero/``, ``/webhooks/xeroX``,
``/webhooks/xero/../settings`` or ``/webhooks/%78ero`` need the sign-in like any page. While the
plugin is off a public path gets a plain 503 (no sign-in page: the caller is a machine that
retries). Only an app the host has already asked for knows its public paths: a plugin off since
the host started has none yet.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from hookspecs.pages import (
    SCOPE_KEY,
    PageContext,
    PluginApp,
    PublicContext,
    Receive,
    Scope,
    Send,
    Visitor,
)
from hookspecs.refhost.web.templates import render

if TYPE_CHECKING:
    from hookspecs.refhost.host import RefHost
    from hookspecs.refhost.web.sessions import SignedIn

__all__ = ["PREFIX", "HostPageServices", "PluginMounts", "route_path"]

PREFIX: Final = "/plugins"
LINKS: Final = {"plugins": "/plugins", "logout": "/logout", "home": "/"}
_SEGMENT = re.compile(r"/plugins/([a-z0-9_-]+)(/.*)?")
"""Matched whole (``fullmatch``): a ``$`` would also match before a final newline, and
``/plugins/x/page%0A`` would reach the app as ``/page``."""
_HOST_SCOPE_KEYS = ("app", "router", "endpoint", "path_params", "app_root_path", "route")


@dataclass(frozen=True)
class HostPageServices:
    """The host's settings and switches, lent to one request of a plugin's pages
    (:class:`hookspecs.pages.PageServices`). A visitor who is not an admin may read the switch
    but change nothing, whatever the plugin does."""

    host: RefHost
    visitor: Visitor

    def save_settings(self, plugin: str, settings: Mapping[str, Any]) -> list[str]:
        """As the host's own settings page saves them (every ``validate_settings`` first)."""
        if not self.visitor.is_admin:
            return ["only an admin may change a plugin's settings"]
        return self.host.save_plugin_settings(plugin, settings)

    def is_enabled(self, plugin: str) -> bool:
        """The host's switch for ``plugin``."""
        return self.host.is_enabled(plugin)

    def set_enabled(self, plugin: str, enabled: bool) -> None:
        """Flip the host's switch, as its plugin list does (admins only)."""
        if not self.visitor.is_admin:
            raise PermissionError("only an admin may switch a plugin on or off")
        if enabled:
            self.host.enable_plugin(plugin)
        else:
            self.host.disable_plugin(plugin)


class PluginMounts:
    """Every plugin's app under ``/plugins/<name>``, behind the host's sign-in.

    :param signed_in: who holds the request's session (``None``: nobody signed in).
    :param csrf: the host's CSRF token for a session (for the header's sign-out form).
    """

    def __init__(
        self,
        host: RefHost,
        *,
        signed_in: Callable[[Request], SignedIn | None],
        csrf: Callable[[str], str],
    ) -> None:
        self.host = host
        self._signed_in = signed_in
        self._csrf = csrf
        self._apps: dict[str, PluginApp] = {}  # mount segment → app
        self._owner: dict[str, str] = {}  # mount segment → plugin name
        self._asked: set[str] = set()  # plugins whose web_app was called
        self._lock = threading.Lock()
        self._collecting = threading.Lock()
        """Held while plugins are asked: a request arriving meanwhile waits for their answers
        rather than finding a plugin asked but its app not kept yet."""

    @staticmethod
    def segment_of(path: str) -> tuple[str, str] | None:
        """``(segment, rest)`` for a path under ``/plugins/<segment>``, else ``None``."""
        found = _SEGMENT.fullmatch(path)
        return (found.group(1), found.group(2) or "") if found else None

    def apps(self) -> dict[str, tuple[str, PluginApp]]:
        """Plugin name → (mount segment, its app), asking plugins started since the last look."""
        self._collect()
        with self._lock:
            return {self._owner[seg]: (seg, app) for seg, app in self._apps.items()}

    def _collect(self) -> None:
        if not self.host.running:
            return
        with self._collecting:
            for name in self.host.plugin_names():
                self._ask(name)

    def _ask(self, name: str) -> None:
        """Ask plugin ``name`` for its app, once, when it is on (under ``_collecting``)."""
        with self._lock:
            if name in self._asked or not self.host.is_enabled(name):
                return
            self._asked.add(name)
        # the host's own hook calling: this plugin alone, isolated, never raising
        results = self.host._call("web_app", {}, only=name, firstresult=True)
        contributed = results[0][1] if results else None
        if isinstance(contributed, PluginApp) and _SEGMENT.fullmatch(
            f"/plugins/{contributed.name}"
        ):
            with self._lock:
                self._apps.setdefault(contributed.name, contributed)
                self._owner.setdefault(contributed.name, name)

    def _plugin_for(self, segment: str) -> tuple[str | None, PluginApp | None]:
        """The plugin mounted at ``segment`` (its name, and its app if it contributed one)."""
        for name, (seg, app) in self.apps().items():
            if seg == segment:
                return name, app
        if segment in self.host.plugin_names():
            return segment, None
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request under ``/plugins/<segment>``: the plugin's app, or the host's word
        on why not."""
        request = Request(scope, receive)
        segment, rest = self.segment_of(route_path(scope)) or ("", "")
        if _plainly_spelt(scope, segment, rest):
            public = await self._public(scope, segment, rest)
            if public is not None:
                await public(scope, receive, send)
                return
        session = self._signed_in(request)
        if session is None:
            await _not_signed_in(request)(scope, receive, send)
            return
        name, app = await run_in_threadpool(self._plugin_for, segment)  # may call web_app
        refusal = self._host_answer(request, session, name, app, rest)
        if refusal is not None or app is None:
            page = {"member": session.staff, "csrf": self._csrf(session.session_id)}
            await (refusal or _message(404, "No pages", "No pages here.", page))(
                scope, receive, send
            )
            return
        visitor = session.staff.visitor()
        context = PageContext(
            visitor=visitor,
            practice_id=self.host.practice_id,
            services=HostPageServices(self.host, visitor),
            links=dict(LINKS),
        )
        await app.app(_mounted(scope, segment, rest, context), receive, send)

    async def _public(
        self, scope: Scope, segment: str, rest: str
    ) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        """What serves a request for one of a plugin's public paths (its app, without the
        sign-in; or 503 while the plugin is off), ``None`` when the path is not one."""
        name, app = await run_in_threadpool(self._plugin_for, segment)
        if name is None or app is None or not app.is_public(rest):
            return None
        if not self.host.is_enabled(name):
            return PlainTextResponse(f"The {name} plugin is switched off.", status_code=503)
        mounted = _mounted(scope, segment, rest, PublicContext(practice_id=self.host.practice_id))
        mounted["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"cookie"]
        plugin_app = app.app

        async def forward(scope: Scope, receive: Receive, send: Send) -> None:
            await plugin_app(mounted, receive, send)

        return forward

    def _host_answer(
        self,
        request: Request,
        session: SignedIn,
        name: str | None,
        app: PluginApp | None,
        rest: str,
    ) -> Response | None:
        """The host's own answer for a signed-in request it does not pass on, else ``None``."""
        page = {"member": session.staff, "csrf": self._csrf(session.session_id)}
        where = request.url.path
        if name is None:
            return _message(404, "No such plugin", f"No plugin is mounted at {where}.", page)
        if not self.host.is_enabled(name):
            return HTMLResponse(render("switched_off.html", plugin=name, **page), status_code=409)
        if app is None:
            if not self.host.running:
                return _message(503, "Not started", "The host has not started its plugins.", page)
            return _message(404, "No pages", f"The {name} plugin has no pages.", page)
        if not rest and request.method in ("GET", "HEAD"):
            return RedirectResponse(f"{where}/", status_code=307)
        return None


def _mounted(
    scope: Scope, segment: str, rest: str, context: PageContext | PublicContext
) -> dict[str, Any]:
    """The scope a plugin's app is called with: as ASGI mounts an app, none of the host's
    routing left in it, the host's word on who asks under :data:`SCOPE_KEY`."""
    prefix = f"{scope.get('root_path', '')}{PREFIX}/{segment}"
    mounted: dict[str, Any] = {k: v for k, v in scope.items() if k not in _HOST_SCOPE_KEYS}
    mounted["root_path"] = prefix
    mounted["path"] = prefix + rest
    mounted[SCOPE_KEY] = context
    return mounted


def _plainly_spelt(scope: Scope, segment: str, rest: str) -> bool:
    """Whether the request line spells ``/plugins/<segment><rest>`` as it is, nothing
    percent-encoded in it (``raw_path``; a server that gives none is taken at its word): a
    public path is matched on the decoded path, and an encoded spelling of it is refused."""
    if not segment or not rest:
        return False
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes):
        return True
    plain = f"{PREFIX}/{segment}{rest}"
    return raw.split(b"?", 1)[0].endswith(plain.encode("utf-8", "surrogateescape"))


def route_path(scope: Scope) -> str:
    """The request's path below the host's own ``root_path`` (``""`` when served at the root)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _not_signed_in(request: Request) -> Response:
    """GET: to the sign-in page, coming back here afterwards; anything else: 401."""
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return PlainTextResponse("Sign in to Pet Manager first.", status_code=401)


def _message(status: int, heading: str, message: str, page: Mapping[str, Any]) -> Response:
    return HTMLResponse(
        render("message.html", heading=heading, message=message, **page), status_code=status
    )
