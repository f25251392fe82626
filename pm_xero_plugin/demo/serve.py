"""``pm-xero demo --serve``: after the run, the demo's practice in a browser, until Ctrl-C.

The reference host's web front (:mod:`hookspecs.refhost.web`) serves the practice the demo just
synced – its host still running with the add-on, its sandbox still on loopback – so a person can
sign in, look at the dashboard and the settings, and press "Connect to Xero" themselves.

That button needs the Xero app's redirect URI to be the pages' own callback
(``<web url>/plugins/xero/connect/callback``), registered with the sandbox, before the add-on
starts: so the port is bound first (:func:`reserve`), its URL goes into the demo's options
(``PM_XERO_REDIRECT_URI`` for the add-on, ``redirect_uris`` for the embedded sandbox), and the
web front serves on that same socket once the run is over (:meth:`DemoWeb.serve_until_stopped`).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost

__all__ = ["CALLBACK_PATH", "WEBHOOK_URL_PATH", "DemoWeb", "reserve"]

CALLBACK_PATH: Final = "/plugins/xero/connect/callback"
"""Where the add-on's pages take Xero's redirect (their ``connect_callback`` route, mounted)."""
WEBHOOK_URL_PATH: Final = "/plugins/xero/webhooks/xero"
"""Where Xero's webhooks reach the add-on (its one public path, mounted by the reference host)."""


@dataclass
class DemoWeb:
    """The web front's port, bound before the demo starts, and what serving it prints."""

    sock: socket.socket
    url: str

    @property
    def redirect_uri(self) -> str:
        """The Xero app's redirect URI for this run: the pages' callback on this port."""
        return self.url + CALLBACK_PATH

    def close(self) -> None:
        """Release the port (a run that ends before serving)."""
        self.sock.close()

    @property
    def webhook_url(self) -> str:
        """Where Xero's webhooks reach the add-on's pages on this port."""
        return self.url + WEBHOOK_URL_PATH

    def serve_until_stopped(
        self,
        host: RefHost,
        say: Callable[[str], None],
        *,
        stop: threading.Event | None = None,
        serving: Callable[[], list[str]] | None = None,
    ) -> None:
        """Serve ``host``'s web front on the reserved port until Ctrl-C or SIGTERM (or ``stop``),
        then stop serving; the caller stops the host. ``serving`` runs once the front answers
        (what needs it up – Xero's intent-to-receive check – goes there) and says its lines."""
        from hookspecs.refhost.web import DEMO_STAFF, serve_web

        stopping = stop if stop is not None else threading.Event()
        with _stopped_by_signals(stopping), serve_web(host, sock=self.sock) as web:
            say(f"Serving the practice at {web.url}/ – sign in as:")
            for member in DEMO_STAFF:
                role = "an admin" if member.is_admin else "not an admin: the add-on's pages say 403"
                say(f"  {member.user_id} / {member.password}   ({member.name}, {role})")
            for line in serving() if serving is not None else []:
                say(line)
            say(f"The Xero add-on's pages: {web.url}/plugins/xero/ · Ctrl-C to stop.")
            while not stopping.wait(0.5):
                pass
        say("stopped serving the practice")


def reserve(port: int) -> DemoWeb:
    """Bind ``127.0.0.1:port`` (``0``: a free one) for the web front, before anything starts.

    :raises hookspecs.refhost.web.PortBusy: the port is in use (the message says what to do).
    """
    from hookspecs.refhost.web import bind_loopback

    sock = bind_loopback(port)
    host, bound = sock.getsockname()[:2]
    return DemoWeb(sock=sock, url=f"http://{host}:{bound}")


@contextmanager
def _stopped_by_signals(stopping: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stopping`` for the block (signals need the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous: dict[int, Any] = {
        signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
