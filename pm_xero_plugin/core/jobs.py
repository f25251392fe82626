"""Long admin actions run off the host's request path, and survive the host being killed.

"Start syncing data" streams years of history; "Start contact sync" every customer; a saved
settings page may widen the window. Run inside the hook, each would hold the admin's browser (and
a host worker) for as long as that takes. So the hooks hand them to :class:`Jobs`: one
background thread, in order, each job idempotent (a replay writes only what is new). The
dashboard shows the job that is running; a failure is logged and shown there too.

A thread lives in memory: a host killed before the job ran (or in its middle) would forget it,
although the admin's "Start syncing data" returned. So each long action is first written down in
the ledger as an :class:`Intent` (its name and arguments, :class:`JobBook`) *before* the hook
returns; the job runs it and only then crosses it off. ``pm_startup`` hands whatever is still
written down to the job thread again (:func:`run_intent`): the actions resume from the
checkpoints they commit with each batch, so a replay costs only what was not done.

``PM_XERO_JOBS=inline`` runs them inside the hook instead (the test suite does, for determinism;
production keeps the default ``background``). :meth:`Jobs.every` queues a job periodically (the
reconciliation with the host's records).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from pm_xero_plugin.core.health import Health
from pm_xero_plugin.ledger import Ledger

__all__ = [
    "JOBS_META_KEY",
    "Intent",
    "JobBook",
    "Jobs",
    "LongActions",
    "background_jobs_enabled",
    "run_intent",
]

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

    def every(self, label: str, seconds: float, job: Callable[[], None]) -> Callable[[], None]:
        """Queue ``job`` every ``seconds`` (not while one with ``label`` is still queued or
        running: a slow pass is not stacked up). Returns what stops it."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(seconds):
                with self._lock:  # (re-entrant) one step with the stop below: none after it
                    if stop.is_set():
                        return
                    if label not in self.pending():
                        self.submit(label, job)

        def halt() -> None:
            """Once this returns no further pass is queued (one queued already still runs)."""
            with self._lock:
                stop.set()

        threading.Thread(target=tick, name=f"{self._name}-every", daemon=True).start()
        return halt

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


JOBS_META_KEY = "jobs"
"""The ledger meta key the :class:`JobBook` keeps its intents under."""


@dataclass(frozen=True)
class Intent:
    """A long action asked for and not finished: what to run (``name``), with what."""

    id: int
    name: str
    """``backfill``, ``start_contact_sync`` or ``catch_up`` (see :func:`run_intent`)."""
    args: Mapping[str, Any] = field(default_factory=dict)
    """JSON values: dates as ISO text."""

    @property
    def label(self) -> str:
        """What the dashboard's ``background_jobs`` shows for it."""
        return self.name


class JobBook:
    """The intents written down in the ledger (one meta value, a short JSON list: a handful of
    admin actions at most), in the order they were asked for.

    Each change is one ledger transaction, so an intent is durable when :meth:`record` returns
    and gone only when :meth:`done` commits.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def _read(self) -> dict[str, Any]:
        saved = self.ledger.meta(JOBS_META_KEY)
        if not saved:
            return {"next": 1, "jobs": []}
        try:
            book = json.loads(saved)
        except ValueError:
            log.error("xero: the ledger's list of background jobs is unreadable; starting afresh")
            return {"next": 1, "jobs": []}
        return book if isinstance(book, dict) else {"next": 1, "jobs": []}

    def record(self, name: str, **args: Any) -> Intent:
        """Write down a long action (durable on return); dates become ISO text."""
        values = {k: v.isoformat() if isinstance(v, date) else v for k, v in args.items()}
        with self.ledger.transaction():
            book = self._read()
            intent = Intent(int(book.get("next", 1)), name, values)
            book["jobs"] = [*book.get("jobs", []), {"id": intent.id, "name": name, "args": values}]
            book["next"] = intent.id + 1
            self.ledger.set_meta(JOBS_META_KEY, json.dumps(book))
        return intent

    def pending(self) -> list[Intent]:
        """The intents not crossed off yet, oldest first."""
        return [
            Intent(int(job["id"]), str(job["name"]), dict(job.get("args") or {}))
            for job in self._read().get("jobs", [])
            if isinstance(job, dict) and "id" in job and "name" in job
        ]

    def is_pending(self, intent_id: int) -> bool:
        """Whether this intent is still to be run (a second hand-off of it finds it done)."""
        return any(intent.id == intent_id for intent in self.pending())

    def run(self, intent: Intent, actions: LongActions, health: Health) -> bool:
        """Run a recorded intent and cross it off once it completed; ``False`` when it was done
        already (handed off twice: at a hook and again by a restart's resume).

        A failure leaves it written down (the next start-up runs it again, from its checkpoints)
        and says so on ``health`` until a run of that action completes.
        """
        if not self.is_pending(intent.id):
            return False
        condition = f"job:{intent.name}"
        try:
            run_intent(actions, intent)
        except Exception as exc:
            health.report(
                condition,
                f"the background job '{intent.name}' failed: {type(exc).__name__}: {exc}"[:500],
                "it is kept and runs again, from where it stopped, at the next start-up of the "
                "host (or press the button again); the log has the details",
            )
            raise
        self.done(intent.id)
        health.clear(condition)
        return True

    def done(self, intent_id: int) -> None:
        """Cross an intent off (it completed)."""
        with self.ledger.transaction():
            book = self._read()
            jobs = [job for job in book.get("jobs", []) if job.get("id") != intent_id]
            if len(jobs) == len(book.get("jobs", [])):
                return
            book["jobs"] = jobs
            self.ledger.set_meta(JOBS_META_KEY, json.dumps(book))


class LongActions(Protocol):
    """What an intent runs (:class:`pm_xero_plugin.core.engine.Engine` has these)."""

    def backfill(
        self, location_id: str | None, since: date | None, until: date | None = None
    ) -> None:
        """Replay the host's history from ``since``."""
        ...

    def start_contact_sync(self, location_id: str | None) -> None:
        """Stream a location's customers."""
        ...

    def catch_up(self) -> None:
        """Replay the window once more."""
        ...


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def run_intent(actions: LongActions, intent: Intent) -> None:
    """Run one intent's action (it is idempotent and resumes from its checkpoints). An intent
    of a name this version does not know (written by a newer one) is logged and skipped."""
    args = intent.args
    location = args.get("location_id")
    location_id = location if isinstance(location, str) else None
    if intent.name == "backfill":
        actions.backfill(location_id, _date(args.get("since")), _date(args.get("until")))
    elif intent.name == "start_contact_sync":
        actions.start_contact_sync(location_id)
    elif intent.name == "catch_up":
        actions.catch_up()
    else:
        log.error("xero: background job %r is unknown to this version: skipped", intent.name)
