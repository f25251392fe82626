"""A fleet worker's monitoring port: ``/metrics`` for Prometheus and ``/healthz`` for a probe.

On loopback by default (``127.0.0.1``): the metrics name practices' volumes and the health
check the worker's id, nothing an outsider should read; an operator who scrapes from another
machine binds another address on purpose. ``/healthz`` answers 200 with what the worker is
doing, and 503 once its loop has not begun for :data:`STALL_SECONDS` – a worker stuck on a
ledger that does not answer, which a supervisor should restart.

A port already in use is :class:`MetricsPortBusy`, one line saying so and what to do (the CLI
prints it and exits 1).
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["STALL_SECONDS", "MetricsPortBusy", "MonitoringServer", "health_answer"]

log = logging.getLogger("pm_xero_plugin.fleet.http")

STALL_SECONDS = 120.0
"""A loop that has not begun for this long is stalled (longest back-off of a failing ledger is
30 s; a loop's look at the ledger takes well under a second)."""


class MetricsPortBusy(Exception):
    """The monitoring port is taken by another process (most likely another worker)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"the metrics port {host}:{port} is already in use (another pm-xero worker on this "
            "machine?): give each worker its own --metrics-port, or 0 to serve none"
        )
        self.port = port


def health_answer(
    status: Mapping[str, Any], stall_seconds: float = STALL_SECONDS
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of ``/healthz`` for the worker's ``status`` (its
    ``seconds_since_loop``: ``None`` before the first loop, which is not yet a stall)."""
    body = dict(status)
    raw = body.get("seconds_since_loop")
    since = None if raw is None else float(raw)
    stalled = since is not None and since > stall_seconds
    body["ok"] = not stalled
    if stalled:
        body["problem"] = (
            f"the worker's loop has not run for {since:.0f} s (more than "
            f"{stall_seconds:.0f} s): restart this worker; its claims go back to the others"
        )
    return (503 if stalled else 200), body


class MonitoringServer:
    """Serves ``/metrics`` (``registry``) and ``/healthz`` (``status()``) from a thread.

    :param registry: the worker's metrics.
    :param status: the worker's state for ``/healthz`` (id, practices open, in flight, seconds
        since its loop last began).
    :param port: 0 picks a free port (tests); see :attr:`port` once started.
    :raises MetricsPortBusy: the port is in use.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        status: Callable[[], Mapping[str, Any]],
        *,
        host: str = "127.0.0.1",
        port: int,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        handler = _handler(registry, status, stall_seconds)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MetricsPortBusy(host, port) from None
            raise
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve from a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pm-xero-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()


def _handler(
    registry: CollectorRegistry,
    status: Callable[[], Mapping[str, Any]],
    stall_seconds: float,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """``GET /metrics`` and ``GET /healthz``; anything else is 404."""

        def do_GET(self) -> None:
            """Answer one request."""
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                code, body = health_answer(status(), stall_seconds)
                self._send(code, "application/json", json.dumps(body, sort_keys=True).encode())
            else:
                self._send(
                    404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n"
                )

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Requests at DEBUG, not on stderr (a scrape every 15 s would flood it)."""
            log.debug("metrics: " + format, *args)

    return Handler
