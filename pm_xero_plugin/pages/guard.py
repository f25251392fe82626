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
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookspecs.pages import PageContext, page_context

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "TOKEN_HOURS", "Guard", "context_of", "csrf_token"]

CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
TOKEN_HOURS: Final = 12
"""How long a rendered page's token stays good (an admin may leave a tab open over lunch)."""
_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
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
    if not hour_text.isdigit() or not mac:
        return False
    hour = int(hour_text)
    current = int((time.time() if now is None else now) // 3600)
    if not 0 <= current - hour < TOKEN_HOURS:
        return False
    return hmac.compare_digest(mac, _mac(secret, context, hour))


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
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: Callable[[], bytes | None],
        practice_id: Callable[[], str | None],
    ) -> None:
        self.app = app
        self.secret = secret
        self.practice_id = practice_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what may not pass; hand everything else to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body: bytes | None = None
        if scope["method"].upper() not in _SAFE:
            body = await _read_body(receive)
        refusal = await self._refusal(scope, _replay(body, receive))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _refusal(self, scope: Scope, receive: Receive) -> Response | None:
        context = page_context(scope)
        if context is None:
            return _text(401, "Sign in to Pet Manager first: these pages are served by the host.")
        expected = self.practice_id()
        if expected is not None and context.practice_id != expected:
            return _text(404, "The Xero add-on does not serve this practice.")
        if not context.visitor.is_admin:
            return _text(403, "Only an admin of this practice may use the Xero add-on's pages.")
        if scope["method"].upper() in _SAFE:
            return None
        return await self._csrf_refusal(scope, receive, context)

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


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the guard reads the form for its token; the handler reads it
    again from :func:`_replay`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


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


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)
