"""Serving the web front on loopback from a background thread (uvicorn), as the demo and the
browser tests do.

The port is bound before uvicorn starts (:func:`bind_loopback`), so that a caller who must know
the URL first – the demo registers ``<url>/plugins/xero/connect/callback`` as the Xero app's
redirect URI before its host starts – can bind, start everything else, then serve on that socket;
and so that a busy port is one clear :class:`PortBusy`, not a log line from a thread.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Final

import uvicorn

from hookspecs.refhost.web.app import WebFront
from hookspecs.refhost.web.sessions import DEMO_STAFF, Staff

if TYPE_CHECKING:
    from hookspecs.refhost.host import RefHost

__all__ = ["LOOPBACK", "PortBusy", "RunningWeb", "bind_loopback", "serve_web"]

LOOPBACK: Final = "127.0.0.1"
_START_SECONDS: Final = 10.0
_STOP_SECONDS: Final = 5.0


class PortBusy(OSError):
    """The port asked for is in use on loopback; the message says what to do."""


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening TCP socket on ``127.0.0.1:port`` (``0``: a free port the system picks).

    :raises PortBusy: something else listens there.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(
                errno.EADDRINUSE,
                f"port {port} on {LOOPBACK} is already in use: stop what uses it, or choose "
                "another port (0 picks a free one)",
            ) from None
        raise
    return sock


class RunningWeb:
    """The web front served from a daemon thread: ``url``, ``shutdown()``, or use it with
    ``with``. It does not stop the host: whoever started the host stops it."""

    def __init__(self, app: WebFront, sock: socket.socket) -> None:
        self.app = app
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="refhost-web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.shutdown()
                raise RuntimeError(f"the web front did not start on {self.url}")
            time.sleep(0.01)

    def shutdown(self) -> None:
        """Stop serving (requests in flight get a moment to finish) and release the port."""
        self._server.should_exit = True
        self._thread.join(_STOP_SECONDS)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> RunningWeb:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


LOOPBACK_NAMES = ("127.0.0.1", "localhost")
"""The only ``Host`` headers a served front answers: it listens on loopback alone."""


def serve_web(
    host: RefHost,
    *,
    port: int = 0,
    staff: Iterable[Staff] = DEMO_STAFF,
    sock: socket.socket | None = None,
) -> RunningWeb:
    """Serve ``host``'s web front on ``127.0.0.1:port`` (or on ``sock``, bound already by
    :func:`bind_loopback`) until :meth:`RunningWeb.shutdown`.

    :param staff: who may sign in (default: ``alex``, an admin, and ``sam``, who is not; both
        with the password ``password``).
    :raises PortBusy: ``port`` is in use.
    """
    listening = sock if sock is not None else bind_loopback(port)
    return RunningWeb(WebFront(host, staff, allowed_hosts=LOOPBACK_NAMES), listening)
