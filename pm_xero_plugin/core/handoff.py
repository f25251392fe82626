"""The host's side of the hand-off: a record the ledger cannot take now is kept, in order, until
it can – through a full disk, a ledger another process holds, a ledger that cannot be opened yet.

A hook fires after the host committed the record, so a record the add-on gives up on is a
record that never reaches Xero. :class:`HandOff` therefore keeps every record whose hand-off
failed (or that arrived with no engine to take it):

- **in order, with no try limit while the cause is the ledger's** (a full, locked, read-only or
  damaged ledger): a disk full for an hour keeps an hour of records. Once one record is kept,
  later ones queue behind it (written straight away they could overtake an older version of
  themselves);
- **written by a background thread, never by the next hook**: the host's request must not pay
  for the backlog. It tries with a backoff (:data:`FIRST_DELAY` doubling to :data:`MAX_DELAY`)
  and drains the queue in order once the ledger takes writes;
- **in a spool file** beside the ledger (:class:`Spool`: JSON lines of hook name and raw record,
  0600, fsync'd), outside the ledger so that what stops the ledger does not stop it; replayed at
  the next ``pm_startup``, so a restart loses nothing. A replayed record the ledger already holds
  unchanged is a no-op (intake compares payload hashes), so replaying the one written just
  before a crash is harmless;
- **in memory only when even the spool cannot be written** (the disk is full), bounded by
  :data:`LIMIT`: past it the oldest is dropped – and a reconciliation with the host's own records
  flagged (:data:`RECONCILE_META`, ``on_lost``), which finds what was dropped. Records the spool
  holds are never dropped for memory: past the limit they wait in the spool only and are read
  back, in order, as those before them are written.

Records that fail for any other reason (an exception in the add-on's code, the host failing to
answer a look-up) are tried :data:`OTHER_TRIES` times, then dropped the same way, flagged. While
records wait, the health (:mod:`pm_xero_plugin.core.health`) says why in words, with how many
wait; it clears when they have drained.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pm_xero_plugin.core.health import LEDGER_WRITE, Health, ledger_error_condition
from pm_xero_plugin.ledger.interface import LedgerBusy, LedgerBusyHere, LedgerUnavailable

if TYPE_CHECKING:
    from pm_xero_plugin.core.engine import Engine

__all__ = [
    "BUSY_MAX_DELAY",
    "DRAIN_WAIT",
    "DROPPED",
    "FIRST_DELAY",
    "HOOK_WAIT",
    "LIMIT",
    "MAX_DELAY",
    "OTHER_TRIES",
    "RECONCILE_META",
    "SPOOL_NAME",
    "STARTUP_BUDGET",
    "Backoff",
    "HandOff",
    "Handed",
    "Spool",
    "outlasts_retries",
]

log = logging.getLogger("pm_xero_plugin")

HOOK_WAIT = 0.25
"""Seconds a hook waits for the ledger (this process's lock and another process's write lock)
before it keeps the record for the background thread: a staff member's save is not held."""

DRAIN_WAIT = 1.0
"""Seconds the background thread waits for the ledger per try (it holds the ledger's lock
meanwhile, so not the worker's 30 s)."""

FIRST_DELAY = 0.5
"""Seconds before the first retry; doubled after each failed one, up to :data:`MAX_DELAY`."""

MAX_DELAY = 30.0
"""The longest pause between two retries."""

BUSY_MAX_DELAY = 2.0
"""The longest pause while the ledger is only busy (another thread's long transaction – a
back-sync batch –, or another process holding its lock): live records must not wait 30 s
behind a contention that passes in a moment."""

STARTUP_BUDGET = 2.0
"""Seconds ``pm_startup`` spends writing kept records itself; the background thread does the
rest, so a long backlog does not hold the host's start-up."""

LIMIT = 100_000
"""Records kept in memory at most. Past it, records the spool holds wait there only; one it
cannot hold (a full disk) drops the oldest in memory, and a reconciliation is flagged."""

OTHER_TRIES = 5
"""Tries for a record whose hand-off failed for a reason other than the ledger's (a retry will
not fix an exception in the add-on's code): then it is dropped and a reconciliation flagged."""

SPOOL_NAME = "records-waiting.jsonl"
"""The spool file's name in the add-on's data directory."""

RECONCILE_META = "reconcile_wanted"
"""Ledger meta key set (JSON: how many records, since when) once the ledger takes writes again
after records had to be dropped: the next pass of :mod:`pm_xero_plugin.core.reconcile` then reads
everything the add-on covers, and clears it."""

DROPPED = "records_dropped"
"""The health condition: records were dropped, a reconciliation with the host is needed.

Both names are spelled again in :mod:`pm_xero_plugin.core.reconcile` (``WANTED_META_KEY``,
``DROPPED_CONDITION``), which clears them: importing it here would load the validation stack
when the host imports the plugin. ``tests/core/test_reconcile.py`` pins that they agree."""

Action = Callable[["Engine"], None]
Replay = Callable[["Engine", Any], None]


def outlasts_retries(exc: BaseException) -> bool:
    """Whether ``exc`` is the ledger's condition (full, locked, read-only, damaged, busy past the
    wait): the record is kept for as long as it lasts, never dropped by a try count."""
    if isinstance(exc, LedgerUnavailable | OSError):
        return True
    if isinstance(
        exc,
        sqlite3.IntegrityError
        | sqlite3.ProgrammingError
        | sqlite3.InterfaceError
        | sqlite3.DataError
        | sqlite3.NotSupportedError,
    ):
        return False  # the add-on's own mistake: a retry gives the same answer
    return isinstance(exc, sqlite3.DatabaseError)


class Backoff:
    """Pauses between retries: ``first`` seconds, doubled after each, up to ``cap``
    (:data:`FIRST_DELAY` and :data:`MAX_DELAY` when not given, read when made)."""

    def __init__(self, first: float | None = None, cap: float | None = None) -> None:
        self.first = FIRST_DELAY if first is None else first
        self.cap = MAX_DELAY if cap is None else cap
        self._next = self.first

    def next(self) -> float:
        """The pause before the coming retry (the one after it doubles)."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """A success: the next failure starts from ``first`` again."""
        self._next = self.first


@dataclass(eq=False)
class Handed:
    """One hook's hand-off, kept until the ledger takes it."""

    hook: str
    action: Action
    record: Any = None
    """The raw record as the host gave it (what the spool keeps)."""
    spoolable: bool = False
    """Whether it can be written to the spool and replayed from it (a record hook); settings
    and admin actions are not (the host keeps settings; an admin presses again)."""
    bounded: bool = True
    """Whether writing it is one transaction with a bounded wait (a record), or an action run
    as it is (a settings save, which may re-gate a whole ledger)."""
    seq: int = 0
    home: Path | None = None
    """The spool folder it was kept under (``None``: before any start-up)."""
    spooled: bool = False
    tries: int = 0
    """Failed tries for a reason other than the ledger's."""


class Spool:
    """The durable copy of the records waiting: JSON lines in ``folder``, 0600, fsync'd.

    ``{"seq": 12, "hook": "on_invoice_created", "record": {…}}`` per record, ``{"done": 12}``
    once every record up to 12 is in the ledger, ``{"lost": 3, "since": "…"}`` when records
    had to be dropped (a reconciliation is needed). Emptied once everything drained. An append
    that fails (disk full) is cut back, so a torn line never hides the next one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / SPOOL_NAME
        self._fd: int | None = None
        self._size = 0

    def load(self) -> tuple[list[tuple[int, str, Any]], int, int]:
        """The records not yet done (seq, hook, record), in order; how many were lost; and the
        highest number the file has used (new records are numbered above it)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return [], 0, 0
        except OSError as exc:  # kept records then stay in memory; the health says so
            log.error("xero: cannot read %s (%s): records kept there wait for it", self.path, exc)
            return [], 0, 0
        entries: dict[int, tuple[int, str, Any]] = {}
        done, lost = 0, 0
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                if "done" in item:
                    done = max(done, int(item["done"]))
                elif "lost" in item:
                    lost += int(item["lost"])
                else:
                    entries[int(item["seq"])] = (
                        int(item["seq"]),
                        str(item["hook"]),
                        item["record"],
                    )
            except (ValueError, TypeError, KeyError):
                log.warning("xero: %s line %d is unreadable; skipped", self.path, number)
        top = max([done, *entries])
        return [entries[seq] for seq in sorted(entries) if seq > done], lost, top

    def append(self, items: list[dict[str, Any]], *, sync: bool = True) -> bool:
        """Append ``items`` (each one line); ``False`` when the file cannot take them (nothing of
        them is left in it)."""
        data = b"".join(
            json.dumps(item, separators=(",", ":"), default=str).encode() + b"\n" for item in items
        )
        try:
            fd = self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        except OSError as exc:
            log.warning("xero: cannot write %s (%s)", self.path, exc)
            self._cut_back()
            return False
        self._size += len(data)
        return True

    def sync(self) -> None:
        """Make what was appended without ``sync`` durable (best effort)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)

    def clear(self) -> None:
        """Everything is in the ledger: empty the file."""
        if self._fd is None and not self.path.exists():
            return
        try:
            fd = self._open()
            os.ftruncate(fd, 0)
            os.fsync(fd)
            self._size = 0
        except OSError as exc:  # the done markers still say so; it is cleared next time
            log.warning("xero: cannot empty %s (%s)", self.path, exc)

    def close(self) -> None:
        """Close the file (a new :class:`Spool` reads it again)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)
            self._fd = fd
            self._size = os.fstat(fd).st_size
            if created:  # the new name itself must survive a power cut
                with contextlib.suppress(OSError):
                    folder_fd = os.open(self.folder, os.O_RDONLY)
                    try:
                        os.fsync(folder_fd)
                    finally:
                        os.close(folder_fd)
        return self._fd

    def _cut_back(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)


class HandOff:
    """Hook records on their way to the ledger (see the module's docstring).

    :param health: where "records are waiting, and why" is reported.
    :param replay: how each spoolable hook's record is handed to an engine (the spool keeps a
        hook's name and record; this turns them back into the call).
    :param on_error: a failure that is not the ledger's (the plugin logs it and shows it in the
        dashboard's add-on errors).
    :param on_lost: called with how many records were just dropped (a reconciliation with the
        host is needed); the hand-off also reports :data:`DROPPED` and sets
        :data:`RECONCILE_META` once the ledger takes writes.
    """

    def __init__(
        self,
        health: Health,
        *,
        replay: Mapping[str, Replay],
        on_error: Callable[[str, BaseException], None],
        on_lost: Callable[[int], None] | None = None,
        limit: int = LIMIT,
    ) -> None:
        self.health = health
        self.replay = replay
        self.on_error = on_error
        self.on_lost = on_lost
        self.limit = limit
        self._lock = threading.Condition(threading.RLock())
        self._drain_lock = threading.Lock()
        self._queue: deque[Handed] = deque()
        self._engine: Engine | None = None
        self._ledger_path: Path | None = None
        self._spool: Spool | None = None
        self._seq = 0
        self._lost = 0
        """Records dropped that the ledger has not been told of yet (:data:`RECONCILE_META`)."""
        self._lost_since: str | None = None
        self._lost_unsaved = 0
        """Of :attr:`_lost`, those not noted in the spool either (the rest are read back from it
        after a restart, so they leave memory with the spool)."""
        self._memory_only = 0
        """How many kept records are not in the spool (counted, not searched: the queue may
        hold a hundred thousand)."""
        self._tail = 0
        """How many records wait in the spool only (past :attr:`limit`), after the queue."""
        self._cause: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- the hook's side ------------------------------------------------------------------------

    def hand_off(
        self,
        hook: str,
        action: Action,
        *,
        record: Any = None,
        spoolable: bool = False,
        bounded: bool = True,
    ) -> None:
        """Write one hook's record now (waiting at most :data:`HOOK_WAIT`), or keep it.

        Written now only when nothing is kept before it and an engine is there; otherwise, or
        when the write fails, it is kept (queued, spooled) for the background thread."""
        entry = Handed(hook, action, record, spoolable, bounded)
        with self._lock:
            engine = self._engine
            if engine is None or self._queue or self._tail:
                self._keep(entry)
                return
        try:
            self._apply(engine, entry, HOOK_WAIT)
        except Exception as exc:
            with self._lock:
                self._keep(entry)
            self._failed(entry, exc)

    def _apply(self, engine: Engine, entry: Handed, wait: float) -> None:
        if not entry.bounded:
            entry.action(engine)
            return
        with engine.ledger.transaction(timeout=wait):
            entry.action(engine)

    def _keep(self, entry: Handed) -> None:
        """Queue ``entry`` (lock held), spool it, and make sure the thread will write it."""
        if not entry.seq:
            self._seq += 1
            entry.seq = self._seq
        entry.home = self._spool.folder if self._spool is not None else None
        if entry.spoolable and self._spool is not None:
            entry.spooled = self._spool.append([_line(entry)])
        self._place(entry)
        self._report()
        self._start_thread(FIRST_DELAY)
        self._lock.notify_all()

    def _place(self, entry: Handed) -> None:
        """Put ``entry`` in line (lock held). Past :attr:`limit` in memory, a record in the spool
        waits there only (read back when those before it are written); one the spool could not
        take is dropped – the oldest in memory, or itself when records before it wait in the
        spool only (it cannot overtake them)."""
        if entry.spooled and (self._tail or len(self._queue) >= self.limit):
            self._tail += 1
            return
        if self._tail:
            self._drop(entry, "memory is full, the spool cannot take it and records before it wait")
            return
        self._queue.append(entry)
        if not entry.spooled:
            self._memory_only += 1
        while len(self._queue) > self.limit:
            oldest = self._queue[0]
            self._take(oldest)
            self._drop(oldest, "the records waiting reached their limit")

    def _refill(self) -> None:
        """Memory is empty and records wait in the spool only: read the next of them back
        (lock held)."""
        if self._spool is None:
            self._tail = 0
            return
        stored, _, _ = self._spool.load()
        chunk = stored[: self.limit]
        self._queue.extend(self._from_spool(*item) for item in chunk)
        self._tail = len(stored) - len(chunk)

    # -- the engine and the spool --------------------------------------------------------------

    def open_spool(self, folder: Path) -> int:
        """Keep records in ``folder``'s spool from now on, and queue the ones it holds from
        before (a restart): returns how many it held. Records kept in memory for another folder
        (another host in the same process) are dropped, as not this host's."""
        with self._lock:
            if self._spool is not None and self._spool.folder == folder:
                return 0
            self._close_spool()
            spool = Spool(folder)
            stored, lost, top = spool.load()
            self._spool = spool
            if lost:
                self._note_lost(lost, save=False)
            ours = [e for e in self._queue if e.home == folder]
            early = [e for e in self._queue if e.home is None]
            for other in [e for e in self._queue if e.home not in (None, folder)]:
                log.warning(
                    "xero: %s kept for another data folder (%s): dropped", other.hook, other.home
                )
            loaded = [self._from_spool(*item) for item in stored]
            known = {e.seq for e in ours}
            merged = sorted([e for e in loaded if e.seq not in known] + ours, key=lambda e: e.seq)
            self._seq = max([self._seq, top, *(e.seq for e in merged)])
            self._queue, self._tail, self._memory_only = deque(), 0, 0
            for entry in merged:
                if entry.spoolable and not entry.spooled:  # kept in memory only: the spool now?
                    entry.spooled = spool.append([_line(entry)])
                self._place(entry)
            for entry in early:
                entry.seq = 0
                self._keep(entry)
            if not self._queue and not self._tail and not self._lost:
                spool.clear()
            if loaded:
                log.info(
                    "xero: %d records kept in %s from before are written now",
                    len(loaded),
                    spool.path,
                )
            return len(loaded)

    def _from_spool(self, seq: int, hook: str, record: Any) -> Handed:
        replay = self.replay.get(hook)
        if replay is None:
            log.warning("xero: the spool holds a record of unknown hook %s; dropped", hook)

            def action(engine: Engine) -> None:
                return None

        else:

            def action(engine: Engine) -> None:
                replay(engine, record)

        assert self._spool is not None
        return Handed(
            hook, action, record, spoolable=True, seq=seq, home=self._spool.folder, spooled=True
        )

    def close_spool(self) -> None:
        """Shutting down: records safe in the spool leave memory (the next start-up reads them
        back); those only in memory stay, for the next start-up of this process."""
        with self._lock:
            self._close_spool()

    def _close_spool(self) -> None:
        spool, self._spool = self._spool, None
        if spool is None:
            return
        for entry in self._queue:  # a last chance for those only in memory
            if entry.spoolable and not entry.spooled:
                entry.spooled = spool.append([_line(entry)])
        if self._lost_unsaved and spool.append([self._lost_line(self._lost_unsaved)]):
            self._lost_unsaved = 0
        spool.close()
        self._queue = deque(e for e in self._queue if not e.spooled)
        self._tail = 0  # in the spool: read back with it
        self._lost = self._lost_unsaved  # the others come back with the spool
        self._recount()

    def _recount(self) -> None:
        self._memory_only = sum(1 for e in self._queue if not e.spooled)

    def _take(self, entry: Handed) -> bool:
        """Remove ``entry`` from the queue (lock held); ``False`` if it was not there."""
        if self._queue and self._queue[0] is entry:
            self._queue.popleft()
        elif entry in self._queue:
            self._queue.remove(entry)
        else:
            return False
        if not entry.spooled:
            self._memory_only -= 1
        return True

    def attach(self, engine: Engine, ledger_path: Path) -> None:
        """An engine takes records from now on: the background thread writes what is kept."""
        with self._lock:
            self._engine = engine
            self._ledger_path = ledger_path
            self._stopping.clear()
            if self._queue or self._tail or self._lost:  # after a pause: start-up goes first
                self._start_thread(FIRST_DELAY)

    def detach(self) -> None:
        """The engine is closing: stop the background thread (records stay kept)."""
        with self._lock:
            self._engine = None
            thread, self._thread = self._thread, None
            self._stopping.set()
            self._lock.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=DRAIN_WAIT + 5)

    # -- writing what is kept --------------------------------------------------------------------

    def drain(self, budget: float | None = None) -> bool:
        """Write the kept records, in order, until none is left (``True``), one fails, or
        ``budget`` seconds passed (``False``: the background thread goes on)."""
        started = time.monotonic()
        if not self._drain_lock.acquire(timeout=-1 if budget is None else budget):
            return False
        try:
            return self._drain(started, budget)
        finally:
            self._drain_lock.release()

    def _drain(self, started: float, budget: float | None) -> bool:
        progress = False
        try:
            while True:
                with self._lock:
                    engine = self._engine
                    if not self._queue and self._tail:
                        self._refill()
                    head = self._queue[0] if self._queue else None
                if engine is None:
                    return False
                if head is None:
                    finished = self._finish(engine)
                    if finished is None:
                        continue  # a record arrived meanwhile
                    return finished
                if budget is not None and time.monotonic() - started > budget:
                    return False
                try:
                    self._apply(engine, head, DRAIN_WAIT)
                except Exception as exc:
                    if self._failed(head, exc):
                        return False
                    continue
                with self._lock:
                    if self._take(head):
                        self._done(head, sync=False)
                        progress = True
        finally:
            if progress:
                with self._lock:
                    if self._spool is not None:
                        self._spool.sync()

    def _finish(self, engine: Engine) -> bool | None:
        """:meth:`_drained`: ``True`` done, ``None`` a record arrived meanwhile, ``False`` the
        ledger refused to note the records dropped (tried again later)."""
        try:
            return True if self._drained(engine) else None
        except Exception as exc:
            if outlasts_retries(exc):
                self._report_cause(exc)
            else:
                log.exception("xero: noting dropped records in the ledger failed")
            return False

    def _drained(self, engine: Engine) -> bool:
        """Nothing is kept: tell the ledger of records dropped (a reconciliation is wanted),
        then – unless a record arrived meanwhile (``False``) – empty the spool and clear the
        condition. Raises what the ledger raised."""
        with self._lock:
            lost, since = self._lost, self._lost_since
        if lost:
            with engine.ledger.transaction(timeout=DRAIN_WAIT):
                engine.ledger.set_meta(
                    RECONCILE_META, json.dumps({"records": lost, "since": since})
                )
        with self._lock:
            self._lost -= lost
            self._lost_unsaved = min(self._lost_unsaved, self._lost)
            if self._queue or self._tail or self._lost:
                return False
            self._lost_since = None
            if self._spool is not None:
                self._spool.clear()
            if self._cause is not None:
                self._cause = None
                self.health.clear(LEDGER_WRITE)
                log.warning("xero: the ledger takes writes again; every record kept is written")
            self._lock.notify_all()
        return True

    def _failed(self, entry: Handed, exc: BaseException) -> bool:
        """A try of ``entry`` failed: ``True`` to stop this pass (try again later), ``False``
        when ``entry`` was dropped and the next may be tried."""
        if outlasts_retries(exc):
            was = self._cause
            # logged when it starts, or when a passing busy of our own turns into a real cause
            first = was is None or (
                isinstance(was, LedgerBusyHere) and not isinstance(exc, LedgerBusyHere)
            )
            self._report_cause(exc)
            if first:
                log.log(
                    # this process's own write (a back-sync batch) passes in a moment: no alarm
                    logging.INFO if isinstance(exc, LedgerBusyHere) else logging.WARNING,
                    "xero: %s could not be written to the ledger (%s): kept, with %d waiting",
                    entry.hook,
                    exc,
                    self.waiting(),
                )
            return True
        entry.tries += 1
        self.on_error(entry.hook, exc)
        if entry.tries < OTHER_TRIES:
            return True
        with self._lock:
            if self._take(entry):
                self._drop(entry, f"it failed {entry.tries} times ({type(exc).__name__}: {exc})")
        return False

    def _drop(self, entry: Handed, why: str) -> None:
        """``entry`` left the queue unwritten (lock held): a record is flagged for a
        reconciliation; a settings save or an admin's action is only logged (the host keeps the
        settings; the admin presses again)."""
        self._done(entry, sync=True)
        if not entry.spoolable:
            log.error("xero: %s given up: %s", entry.hook, why)
            return
        log.error(
            "xero: %s given up: %s; a reconciliation with Pet Manager will find it", entry.hook, why
        )
        self._note_lost(1, save=True)

    def _done(self, entry: Handed, *, sync: bool) -> None:
        if entry.spooled and self._spool is not None:
            self._spool.append([{"done": entry.seq}], sync=sync)

    def _lost_line(self, count: int) -> dict[str, Any]:
        return {"lost": count, "since": self._lost_since}

    def _note_lost(self, count: int, *, save: bool) -> None:
        """``count`` records were dropped (lock held); ``save``: note it in the spool (those
        read back from it are there already)."""
        self._lost += count
        self._lost_since = self._lost_since or datetime.now(UTC).isoformat(timespec="seconds")
        if save and (self._spool is None or not self._spool.append([self._lost_line(count)])):
            self._lost_unsaved += count
        self.health.report(
            DROPPED,
            f"{self._lost} records from Pet Manager were dropped before reaching the ledger "
            "(they waited too long, or failed again and again)",
            "the add-on compares its ledger with Pet Manager's records to find them; check the "
            "add-on errors for why they failed",
            severity="warning",
        )
        if self.on_lost is not None:
            try:
                self.on_lost(count)
            except Exception:
                log.exception("xero: reporting dropped records failed")

    # -- what the dashboard reads --------------------------------------------------------------

    def waiting(self) -> int:
        """How many records are kept now."""
        with self._lock:
            return len(self._queue) + self._tail

    def waiting_text(self) -> str:
        """``12 records from Pet Manager are waiting (3 only in memory)``, or ``""``."""
        with self._lock:
            n = len(self._queue) + self._tail
            memory = self._memory_only
            spool = self._spool.path if self._spool is not None else None
        if not n:
            return ""
        text = f"{n} record{'s' if n != 1 else ''} from Pet Manager waiting to be written"
        if memory and spool is not None:
            text += f" ({memory} only in memory: {spool} cannot be written either)"
        elif spool is not None:
            text += f" (kept in {spool})"
        return text

    def status(self) -> dict[str, Any]:
        """The JSON the dashboard shows: how many wait, how many only in memory, the spool."""
        with self._lock:
            return {
                "waiting": len(self._queue) + self._tail,
                "only_in_memory": self._memory_only,
                "only_in_the_spool": self._tail,
                "spool": str(self._spool.path) if self._spool is not None else None,
                "dropped_unreconciled": self._lost,
            }

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is kept (``False`` if ``timeout`` passed first): for tests and
        operators' scripts."""
        with self._lock:
            return self._lock.wait_for(
                lambda: not self._queue and not self._tail and not self._lost, timeout
            )

    # -- internals -----------------------------------------------------------------------------

    def _report_cause(self, exc: BaseException) -> None:
        with self._lock:
            self._cause = exc
            self._report()

    def _report(self) -> None:
        """Refresh the condition with the count waiting (lock held)."""
        if self._cause is None or self._ledger_path is None:
            return
        condition = ledger_error_condition(self._cause, self._ledger_path)
        action = condition.action
        if self._memory_only:
            action += (
                "; records only in memory are lost if the host stops before that (a "
                "reconciliation with Pet Manager then finds them)"
            )
        self.health.report(
            condition.name,
            f"{condition.message}; {self.waiting_text()}",
            action,
            severity=condition.severity,
        )

    def _start_thread(self, delay: float) -> None:
        """Start the background thread if an engine is there and it is not running (lock
        held)."""
        if self._engine is None or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(
            target=self._run, args=(delay,), name="pm-xero-handoff", daemon=True
        )
        self._thread.start()

    def _run(self, delay: float) -> None:
        backoff = Backoff()
        while not self._stopping.wait(delay):
            try:
                empty = self.drain()
            except Exception:  # the thread must outlive anything: records are waiting
                log.exception("xero: writing the kept records failed")
                empty = False
            if not empty:
                delay = backoff.next()
                if isinstance(self._cause, LedgerBusy):  # contention passes: look again soon
                    delay = min(delay, BUSY_MAX_DELAY)
                continue
            backoff.reset()
            with self._lock:
                self._lock.notify_all()
                while not (self._queue or self._tail or self._lost or self._stopping.is_set()):
                    self._lock.wait()
            delay = backoff.next()


def _line(entry: Handed) -> dict[str, Any]:
    return {"seq": entry.seq, "hook": entry.hook, "record": entry.record}
