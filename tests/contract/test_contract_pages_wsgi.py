"""The WSGI recipe in :mod:`hookspecs.pages` works as written: a plugin's ASGI app under a WSGI
host (``a2wsgi.ASGIMiddleware`` + ``from_wsgi_environ``) receives the host's PageContext and its
mount point as ``root_path``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from a2wsgi import ASGIMiddleware

from hookspecs.pages import (
    SCOPE_KEY,
    ASGIApp,
    PageContext,
    Receive,
    Scope,
    Send,
    Visitor,
    from_wsgi_environ,
)
from hookspecs.refhost import ManualClock, RefHost
from hookspecs.refhost.web import HostPageServices

ADMIN = Visitor("alex", "Alex Admin", is_admin=True)
PREFIX = "/plugins/xero"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def wsgi_host(plugin_app: ASGIApp, context: PageContext | None) -> WSGIApp:
    """A WSGI host mounting ``plugin_app`` at PREFIX exactly as the docstring's recipe says."""
    wsgi_app = ASGIMiddleware(from_wsgi_environ(plugin_app))  # type: ignore[arg-type]

    def mounted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if context is not None:  # (the host's own login check decides this)
            environ[SCOPE_KEY] = context
        environ["SCRIPT_NAME"] += PREFIX
        environ["PATH_INFO"] = environ["PATH_INFO"][len(PREFIX) :]
        return wsgi_app(environ, start_response)  # type: ignore[arg-type]

    return mounted


def call(app: WSGIApp, path: str) -> tuple[str, bytes]:
    """One WSGI call with wsgiref's standard environ for ``path``."""
    environ: dict[str, Any] = {"PATH_INFO": path, "SCRIPT_NAME": ""}
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(line)

    body = b"".join(app(environ, start_response))
    return status[0], body


def test_the_context_and_the_mount_point_reach_an_asgi_app_under_a_wsgi_call() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    context = PageContext(ADMIN, "practice-1", services=None)  # type: ignore[arg-type]
    status, body = call(wsgi_host(app, context), f"{PREFIX}/dashboard")
    assert (status, body) == ("200 OK", b"ok")
    (scope,) = seen
    assert scope[SCOPE_KEY] is context
    assert scope["root_path"] == PREFIX
    assert scope["path"] == f"{PREFIX}/dashboard"


def test_without_the_wrapper_the_context_stays_in_the_environ() -> None:
    """What ``from_wsgi_environ`` is for: a2wsgi alone leaves the context out of the scope."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    bare = ASGIMiddleware(app)  # type: ignore[arg-type]

    def mounted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ[SCOPE_KEY] = PageContext(ADMIN, "practice-1", services=None)  # type: ignore[arg-type]
        return bare(environ, start_response)  # type: ignore[arg-type]

    call(mounted, "/x")
    assert SCOPE_KEY not in seen[0]
    assert SCOPE_KEY in seen[0]["wsgi_environ"]


@pytest.fixture
def xero_host(tmp_path: Path) -> Iterator[RefHost]:
    from pm_xero_plugin import plugin

    host = RefHost(
        tmp_path / "pm", clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)), load_entrypoints=False
    )
    host.register(plugin, name="xero")
    host.start()
    try:
        yield host
    finally:
        host.stop()
        host.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_addons_pages_under_a_wsgi_server_see_the_admin_and_link_below_the_prefix(
    xero_host: RefHost,
) -> None:
    from pm_xero_plugin import plugin

    contributed = plugin.web_app()
    assert contributed is not None
    context = PageContext(ADMIN, xero_host.practice_id, HostPageServices(xero_host, ADMIN))
    for visitor_context, expected in ((context, 200), (None, 401)):
        server: WSGIServer = make_server(
            "127.0.0.1", 0, wsgi_host(contributed.app, visitor_context), handler_class=_Quiet
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}{PREFIX}/dashboard"
            answer = httpx.get(url, timeout=10)
        finally:
            server.shutdown()
            server.server_close()
        assert answer.status_code == expected, answer.text
        if expected == 200:
            assert "Alex Admin" in answer.text
            assert f'{PREFIX}/static/app.css"' in answer.text
            assert f'{PREFIX}/settings"' in answer.text
