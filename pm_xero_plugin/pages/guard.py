"""Who may see the pages, and which requests may change anything.

The host says who is asking (:func:`hookspecs.pages.page_context`); nothing the browser sends is
trusted for that. A request with no context gets 401, a visitor who is not an admin 403, a
practice the add-on does not serve 404 – on every page and every action alike, before any handler
runs.

CSRF: every state-changing request (any method but GET/HEAD/OPTIONS) must carry a token, in the
form field ``csrf`` or the ``X-CSRF-Token`` header, that only a page this add-on rendered for this
visitor can know: an HMAC, under a key derived from the host's secret for the add-on, of the
practice, the visitor and the hour it was issued, valid for :data:`TOKEN_HOURS`. A cross-site form
cannot read it, and a token lifted from another admin's page is refused. A browser's
``Sec-Fetch-Site: cross-site`` is refused as well (defence in depth; old browsers omit it).

Public paths (Xero's webhooks, :mod:`pm_xero_plugin.pages.webhooks`): a request the host
forwarded with a :class:`hookspecs.pages.PublicContext` goes to its route as it came – no admin
to check, no CSRF token (no browser session is involved, and the route checks the caller's
signature itself), its body unread – but only for exactly a path the guard was given as public
and the practice the add-on serves. A public context on any other path is 401: the host's
sign-in is the only way to a page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Collection
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookspecs.pages import PageContext, PublicContext, page_context, public_context

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "TOKEN_HOURS",
    "Guard",
    "context_of",
    "csrf_token",
    "flash_of",
    "said_query",
]

CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
TOKEN_HOURS: Final = 12
"""How long a rendered page's token stays good (an admin may leave a tab open over lunch)."""
_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_HOUR: Final = re.compile(r"[0-9]{1,12}")
MAX_BODY: Final = 1 << 20
"""The largest request body a page takes (a settings form is a few kB): more is 413."""
_KEY_LABEL: Final = b"pm-xero pages csrf v1"


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _mac(secret: bytes, context: PageContext, hour: int) -> str:
    subject = f"{context.practice_id}\x00{context.visitor.user_id}\x00{hour}".encode()
    return hmac.new(_key(secret), subject, hashlib.sha256).hexdigest()


def csrf_token(secret: bytes, context: PageContext, *, now: float | None = None) -> str:
    """The token a page rendered now for this visitor carries in its forms."""
    hour = int((time.time() if now is None else now) // 3600)
    return f"{hour}.{_mac(secret, context, hour)}"


def token_valid(
    secret: bytes, context: PageContext, token: str, *, now: float | None = None
) -> bool:
    """Whether ``token`` was issued for this visitor and practice in the last hours."""
    hour_text, _, mac = token.partition(".")
    if not _HOUR.fullmatch(hour_text) or not mac:
        return False
    hour = int(hour_text)
    current = int((time.time() if now is None else now) // 3600)
    if not 0 <= current - hour < TOKEN_HOURS:
        return False
    return hmac.compare_digest(mac, _mac(secret, context, hour))


_SIGNER: Final = "pm_xero.pages.sign_said"
_SAID_LIMIT: Final = 400


def said_query(request: Request, said: str) -> dict[str, str]:
    """The query parameters that carry a one-line message to the next page (post/redirect/get):
    the text and its signature for this visitor, so that a link from elsewhere cannot put words
    of its own into the add-on's pages ("your session expired, call …")."""
    if not said:
        return {}
    text = said[:_SAID_LIMIT]
    sign = request.scope.get(_SIGNER)
    return {"said": text, "said_sig": sign(text) if callable(sign) else ""}


def flash_of(request: Request) -> str:
    """The one-line message this page was sent with, if this add-on signed it for this visitor."""
    text = request.query_params.get("said", "")
    signature = request.query_params.get("said_sig", "")
    sign = request.scope.get(_SIGNER)
    if not text or not signature or not callable(sign):
        return ""
    expected = sign(text)
    return text if expected and hmac.compare_digest(expected, signature) else ""


def context_of(request: Request) -> PageContext:
    """The visitor's context (the guard already refused a request without one)."""
    context = page_context(request.scope)
    if context is None:  # pragma: no cover - the guard answers 401 first
        raise RuntimeError("no page context: the request did not pass the guard")
    return context


class Guard:
    """ASGI middleware in front of every route: 401 / 404 / 403 / CSRF, in that order.

    :param secret: the add-on's secret from the host (read per request: the host may start the
        add-on after the app was built).
    :param practice_id: the practice this add-on serves; ``None`` accepts the host's word alone.
    :param public_paths: the paths below the mount point that a host forwards without a sign-in
        (the ``PluginApp``'s ``public_paths``); their routes authenticate the caller themselves.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: Callable[[], bytes | None],
        practice_id: Callable[[], str | None],
        public_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.secret = secret
        self.practice_id = practice_id
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what may not pass; hand everything else to the app."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket route would bypass every check below
            await _close_websocket(receive, send)
            return
        public = public_context(scope)
        if public is not None:
            refusal = self._public_refusal(scope, public)
            await (refusal or self.app)(scope, receive, send)
            return
        refusal = self._who_refusal(scope)
        if refusal is None and scope["method"].upper() in _SAFE:
            await self.app(self._with_signer(scope), receive, send)
            return
        body: bytes | None = None
        if refusal is None:  # only an admin's body is read, and only up to MAX_BODY
            body = await _read_body(receive)
            refusal = (
                _text(413, "Refused: the request is larger than any page sends.")
                if body is None
                else await self._csrf_refusal(scope, _replay(body, receive), _context(scope))
            )
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(self._with_signer(scope), _replay(body, receive), send)

    def _with_signer(self, scope: Scope) -> Scope:
        """The scope with a signer for this visitor's one-line messages (see :func:`said_query`)."""
        secret = self.secret()
        context = _context(scope)

        def sign(text: str) -> str:
            if secret is None:
                return ""
            subject = f"said\x00{context.practice_id}\x00{context.visitor.user_id}\x00{text}"
            return hmac.new(_key(secret), subject.encode(), hashlib.sha256).hexdigest()[:32]

        return {**scope, _SIGNER: sign}

    def _public_refusal(self, scope: Scope, context: PublicContext) -> Response | None:
        """401 unless the path below the mount point is exactly a public one; 404 for a
        practice the add-on does not serve."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        below = path[len(root) :] if path.startswith(root) else None
        if below is None or below not in self.public_paths:
            return _text(401, "Sign in to Pet Manager first: these pages are served by the host.")
        expected = self.practice_id()
        if expected is not None and context.practice_id != expected:
            return _text(404, "The Xero add-on does not serve this practice.")
        return None

    def _who_refusal(self, scope: Scope) -> Response | None:
        """401 / 404 / 403 from the host's context alone, before a byte of the body is read."""
        context = page_context(scope)
        if context is None:
            return _text(401, "Sign in to Pet Manager first: these pages are served by the host.")
        expected = self.practice_id()
        if expected is not None and context.practice_id != expected:
            return _text(404, "The Xero add-on does not serve this practice.")
        if not context.visitor.is_admin:
            return _text(403, "Only an admin of this practice may use the Xero add-on's pages.")
        return None

    async def _csrf_refusal(
        self, scope: Scope, receive: Receive, context: PageContext
    ) -> Response | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("sec-fetch-site") == "cross-site":
            return _text(403, "Refused: this request came from another site.")
        secret = self.secret()
        if secret is None:
            return _text(503, "The Xero add-on has not started yet; try again in a moment.")
        token = headers.get(CSRF_HEADER) or await _form_token(scope, receive)
        if not token or not token_valid(secret, context, token):
            return _text(
                403,
                "Refused: the form's security token is missing or out of date. "
                "Reload the page and try again.",
            )
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (the guard reads the form for its token; the handler reads it
    again from :func:`_replay`); ``None`` past :data:`MAX_BODY`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _close_websocket(receive: Receive, send: Send) -> None:
    """Refuse a websocket (the pages have none; one added later must not skip the guard)."""
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def _replay(body: bytes | None, receive: Receive) -> Receive:
    """``receive`` that hands out ``body`` once, then waits on the real one (for a disconnect)."""
    if body is None:
        return receive
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, receive: Receive) -> str | None:
    """The ``csrf`` field of a form body (read from the buffered body the handler reads too)."""
    request = Request(scope, receive)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    form = await request.form()
    value: Any = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


def _context(scope: Scope) -> PageContext:
    context = page_context(scope)
    if context is None:  # pragma: no cover - _who_refusal answered 401
        raise RuntimeError("no page context")
    return context


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)
