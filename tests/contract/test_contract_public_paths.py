"""Public paths in the host contract (:mod:`hookspecs.pages`): ``public_context`` reads what the
host put into the scope, and the WSGI recipe's public paths work as written – under a WSGI
server the add-on's webhook endpoint is reached without the host's login, every other path is
not, and an encoded spelling of the public path is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from a2wsgi import ASGIMiddleware

from hookspecs.pages import (
    SCOPE_KEY,
    PageContext,
    PluginApp,
    PublicContext,
    Visitor,
    from_wsgi_environ,
    page_context,
    public_context,
)
from pm_xero_plugin.ledger.types import XeroEvent
from pm_xero_plugin.pages.app import build_app
from pm_xero_plugin.pages.webhooks import WEBHOOK_PATH, signature

PREFIX = "/plugins/xero"
KEY = b"contract-webhook-key"
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ADMIN = Visitor("alex", "Alex Admin", is_admin=True)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def test_public_context_reads_only_a_public_context() -> None:
    public = PublicContext("practice-1")
    page = PageContext(ADMIN, "practice-1", services=None)  # type: ignore[arg-type]
    assert public_context({SCOPE_KEY: public}) is public
    assert public_context({SCOPE_KEY: page}) is None
    assert public_context({}) is None
    assert public_context({SCOPE_KEY: {"practice_id": "practice-1"}}) is None  # no look-alikes
    assert page_context({SCOPE_KEY: public}) is None  # a public call is nobody's page visit


class KeptSink:
    """The add-on's webhook sink, in memory."""

    def __init__(self) -> None:
        self.kept: dict[str, XeroEvent] = {}

    def key(self) -> bytes | None:
        return KEY

    def now(self) -> datetime:
        return NOW

    def keep(self, events: Sequence[XeroEvent]) -> list[bool]:
        new = [e.key not in self.kept for e in events]
        self.kept.update({e.key: e for e in events if e.key not in self.kept})
        return new

    def wake(self) -> None:
        pass


def wsgi_host(plugin_app: PluginApp, practice_id: str) -> WSGIApp:
    """A WSGI host mounting ``plugin_app`` at PREFIX as the docstring's recipe says; its "login"
    is a header naming the admin (the host's own check, whatever it is)."""
    wsgi_app = ASGIMiddleware(from_wsgi_environ(plugin_app.app))  # type: ignore[arg-type]

    def mounted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        rest = environ["PATH_INFO"][len(PREFIX) :]
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or PREFIX + rest
        if plugin_app.is_public(rest) and raw.split("?")[0].endswith(PREFIX + rest):
            environ[SCOPE_KEY] = PublicContext(practice_id)
            environ.pop("HTTP_COOKIE", None)
        elif environ.get("HTTP_X_TEST_LOGIN") == "alex":
            environ[SCOPE_KEY] = PageContext(ADMIN, practice_id, services=None)  # type: ignore[arg-type]
        else:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"sign in first"]
        environ["SCRIPT_NAME"] += PREFIX
        environ["PATH_INFO"] = rest
        return wsgi_app(environ, start_response)  # type: ignore[arg-type]

    return mounted


class _RawURI(WSGIRequestHandler):
    """wsgiref's handler, giving the request line's path as ``REQUEST_URI`` as mod_wsgi and
    uWSGI do."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["REQUEST_URI"] = self.path
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served() -> Iterator[tuple[str, KeptSink]]:
    sink = KeptSink()
    app = build_app(
        engine=lambda: None,
        runtime=lambda: None,
        secret=lambda: b"s" * 32,
        practice_id=lambda: "practice-1",
        webhooks=sink,
    )
    contributed = PluginApp(name="xero", title="Xero", app=app, public_paths=(WEBHOOK_PATH,))
    server: WSGIServer = make_server(
        "127.0.0.1", 0, wsgi_host(contributed, "practice-1"), handler_class=_RawURI
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", sink
    finally:
        server.shutdown()
        server.server_close()


def test_under_a_wsgi_server_the_webhook_endpoint_needs_no_login_and_nothing_else_opens(
    served: tuple[str, KeptSink],
) -> None:
    url, sink = served
    body = json.dumps(
        {
            "events": [
                {
                    "resourceUrl": "https://api.xero.com/api.xro/2.0/Contacts/c-1",
                    "resourceId": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
                    "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
                    "tenantType": "ORGANISATION",
                    "eventCategory": "CONTACT",
                    "eventType": "UPDATE",
                    "eventDateUtc": (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
                }
            ],
            "firstEventSequence": 1,
            "lastEventSequence": 1,
            "entropy": "S0m3r4Nd0mt3xt",
        }
    ).encode()
    signed = {"x-xero-signature": signature(body, KEY), "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post(f"{PREFIX}{WEBHOOK_PATH}", content=body, headers=signed)
        assert (answer.status_code, answer.content) == (200, b"")
        assert len(sink.kept) == 1
        unsigned = client.post(f"{PREFIX}{WEBHOOK_PATH}", content=body)
        assert (unsigned.status_code, unsigned.content) == (401, b"")
        assert client.get(f"{PREFIX}/dashboard").status_code == 401  # the host's login
        for trick in (f"{WEBHOOK_PATH}/", f"{WEBHOOK_PATH}X", "/webhooks/%78ero"):
            refused = client.post(f"{PREFIX}{trick}", content=body, headers=signed)
            assert refused.text == "sign in first", trick
        admin = client.post(
            f"{PREFIX}/settings", content=b"", headers={"x-test-login": "alex", **signed}
        )
        assert admin.status_code == 403  # past the login the add-on's own CSRF check holds
    assert len(sink.kept) == 1
