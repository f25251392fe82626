"""Two ways to run the app: an in-process httpx transport and a threaded loopback server.

Both turn the app's "no answer" decision (`SandboxHang`) into what a client really sees: the
transport raises ``httpx.ReadTimeout``; the server holds the connection for ``hang_seconds`` of
real time and then closes it without a byte, which a client sees as a timeout or a dropped
connection.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

import httpx

from .web import SandboxHang

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

__all__ = ["RunningServer", "SandboxTransport", "serve"]


class SandboxTransport(httpx.WSGITransport):
    """``httpx.WSGITransport`` that reports a hung request as ``httpx.ReadTimeout``."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app; a hung answer becomes ``httpx.ReadTimeout``."""
        try:
            return super().handle_request(request)
        except SandboxHang as exc:
            raise httpx.ReadTimeout(f"sandbox: {exc.kind} (no response)", request=request) from None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection, and a listen backlog deep enough for a burst of them.

    ``socketserver``'s default backlog is 5: a sixth connection opened at the same moment was not
    accepted but left to the kernel's SYN retry (about a second later), so twenty parallel calls
    reached the app a few at a time and never met Xero's 5-concurrent limit.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    stopping: threading.Event


class _Handler(ServerHandler):
    def handle_error(self) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, SandboxHang):
            server = self.request_handler.server  # type: ignore[attr-defined]
            if exc.hang_seconds > 0:
                server.stopping.wait(exc.hang_seconds)
            self.request_handler.close_connection = True  # type: ignore[attr-defined]
            return  # nothing written: the client sees a timeout / dropped connection
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox records every request itself (``/sandbox/requests``)."""

    def handle(self) -> None:
        # wsgiref's handle(), with a handler that can leave a request unanswered.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _Handler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class RunningServer:
    """A sandbox served from a background thread. ``url`` is its root; stop with `shutdown`."""

    def __init__(
        self, server: _ThreadingServer, on_shutdown: Callable[[], None] | None = None
    ) -> None:
        self._server = server
        self._on_shutdown = on_shutdown
        host, port = server.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="xero-sandbox",
            daemon=True,
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting, release hung connections, wait for the serving thread (and stop
        what was started with it: the sandbox's webhook sender)."""
        if self._on_shutdown is not None:
            self._on_shutdown()
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve(
    app: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 0,
    on_shutdown: Callable[[], None] | None = None,
) -> RunningServer:
    """Serve the WSGI ``app`` (a sandbox's) on ``host``:``port`` from a background thread.

    It takes the app, not the sandbox, so that this module needs nothing from ``app.py``.

    :param on_shutdown: called first by `RunningServer.shutdown` (the webhook sender's stop).
    """
    server = _ThreadingServer((host, port), _RequestHandler)
    server.stopping = threading.Event()
    server.set_app(app)
    return RunningServer(server, on_shutdown)
