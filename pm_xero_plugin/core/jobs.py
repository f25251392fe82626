"""Long admin actions run off the host's request path.

"Start syncing data" streams years of history; "Start contact sync" every customer; a saved
settings page may widen the window. Run inside the hook, each would hold the admin's browser (and
a host worker) for as long as that takes. So the hooks hand them to :class:`Jobs`: one
background thread, in order, each job idempotent (a replay writes only what is new). The
dashboard shows the job that is running; a failure is logged and shown there too.

``PM_XERO_JOBS=inline`` runs them inside the hook instead (the test suite does, for determinism;
production keeps the default ``background``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable

__all__ = ["Jobs", "background_jobs_enabled"]

log = logging.getLogger("pm_xero_plugin.core.jobs")


def background_jobs_enabled() -> bool:
    """Whether long hooks run in the background (default) or inline (``PM_XERO_JOBS=inline``)."""
    return os.environ.get("PM_XERO_JOBS", "background").strip().lower() != "inline"


class Jobs:
    """A single background thread running submitted jobs in order."""

    def __init__(self, name: str = "pm-xero-jobs") -> None:
        self._name = name
        self._queue: deque[tuple[str, Callable[[], None]]] = deque()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._current: str | None = None

    def submit(self, label: str, job: Callable[[], None]) -> None:
        """Queue ``job``; it runs after those queued before it."""
        with self._lock:
            self._queue.append((label, job))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._lock.notify_all()

    @property
    def current(self) -> str | None:
        """The label of the job running now, if any."""
        with self._lock:
            return self._current

    def pending(self) -> list[str]:
        """Labels of the running job and those waiting, in order."""
        with self._lock:
            running = [self._current] if self._current else []
            return running + [label for label, _ in self._queue]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued job has run; ``False`` if ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and self._current is None, timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    self._lock.notify_all()
                    return
                label, job = self._queue.popleft()
                self._current = label
            try:
                job()
            except Exception:
                log.exception("xero: background job %s failed", label)
            finally:
                with self._lock:
                    self._current = None
                    self._lock.notify_all()
