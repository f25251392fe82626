"""The ledger's interface: what the sync needs of its durable queue, whatever stores it.

:class:`Ledger` is a :class:`typing.Protocol`: the engine, the worker, the sender and the
dashboard are written against it, :class:`~pm_xero_plugin.ledger.sqlite.SqliteLedger` is one
backend (mypy checks it implements every operation, below), and the contract tests in
``tests/ledger/contract`` run against any backend unchanged (procrastinate's ``BaseConnector`` and
its in-memory connector are the model; PostgreSQL is the next backend).

Two rules hold across it:

* **No SQL text crosses it.** Every selection is a named operation with typed arguments
  (``waiting_behind(gates, tenant_id=…)``, ``retryable(gates, kind=…)``), so a backend is free
  to store rows as it likes.
* **No business rule lives behind it.** Which gate holds a row, when a dependant may go, when an
  organisation's contact sync is finished: decided in :mod:`pm_xero_plugin.core` and applied
  through these operations. The one place the ledger hands over to core is the settling of a
  row (synced, failed, held): :class:`Dependants` is called inside that transaction, so what
  waited for the row moves with it, atomically, without the ledger knowing why.

Values are in :mod:`pm_xero_plugin.ledger.types`, states and gates in
:mod:`pm_xero_plugin.ledger.states`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from pm_xero_plugin.ledger.types import (
    BooksMark,
    ClaimOwner,
    Facts,
    NewRow,
    Parent,
    Row,
    RowKey,
    RowPage,
    RowQuery,
    TenantRecord,
    XeroCopy,
    XeroEvent,
)

__all__ = [
    "Dependants",
    "Ledger",
    "LedgerBusy",
    "LedgerBusyHere",
    "LedgerTooNew",
    "LedgerUnavailable",
    "LedgerUnreadable",
]


class LedgerUnavailable(Exception):
    """The ledger cannot be used now, for a reason outside the add-on's code (what a hand-off
    keeps a record through, and start-up retries through, instead of giving it up)."""


class LedgerBusy(LedgerUnavailable):
    """The ledger stayed busy (another process, or another thread of this one, holding its write
    lock) past the wait the caller allowed: nothing was written."""


class LedgerBusyHere(LedgerBusy):
    """:class:`LedgerBusy` because *this* process is writing (another of its threads – a
    back-sync or reconciliation batch – holds the ledger): nothing for an admin to stop, it
    passes when that batch commits (unlike another process holding the write lock)."""


class LedgerUnreadable(LedgerUnavailable):
    """The file is not a ledger this add-on can read: damaged, truncated, or not a ledger at all.
    Retrying does not help until it is restored or moved aside."""


class LedgerTooNew(LedgerUnreadable, RuntimeError):
    """The ledger was written by a newer version of the add-on: this one must not touch it
    (a :class:`RuntimeError`, as it always was)."""

    def __init__(self, version: int, supported: int) -> None:
        super().__init__(
            f"ledger schema version {version} is newer than this add-on understands "
            f"({supported}): upgrade pm-xero-plugin"
        )
        self.version = version
        """The schema version the file carries."""
        self.supported = supported
        """The newest schema version this add-on reads."""


class Dependants(Protocol):
    """What a settled row means for the rows that wait on it, decided above the ledger.

    A ledger calls it inside the transaction that settled the row, and it acts only through the
    ledger's own operations (``waiting_on``, ``transition_many``, …): the decision is core's,
    the atomicity the ledger's. :class:`pm_xero_plugin.core.gates.DependantGates` implements it.
    """

    def synced(self, ledger: Ledger, kind: str, host_id: str, tenant_id: str) -> None:
        """The row reached Xero (or was resolved by hand): what waited for it may go."""
        ...

    def stopped(self, ledger: Ledger, kind: str, host_id: str, tenant_id: str) -> None:
        """The row will not reach Xero by itself (failed, or held for an admin)."""
        ...


class Ledger(Protocol):
    """The durable queue and record of what reached Xero (see the module's docstring)."""

    def close(self) -> None:
        """Close the connection (the ledger is unusable afterwards)."""
        ...

    def transaction(self, timeout: float | None = None) -> AbstractContextManager[None]:
        """One write transaction (re-entrant: nested calls join the outer one).

        :param timeout: the longest, in seconds, to wait for the ledger to take the write (this
            process's other threads and other processes alike): past it :class:`LedgerBusy` is
            raised and nothing is written. The host's hooks pass a fraction of a second (a
            staff member's save must not wait on a backup tool); ``None``, the backend's long
            default, is for the worker and background jobs. A nested call joins the outer
            transaction and waits for nothing.
        """
        ...

    def fenced(self, claims: Mapping[int, int]) -> AbstractContextManager[None]:
        """Fence this thread's writes to claimed rows: within the block every write to a row of
        ``claims`` (row id -> the ``claim_token`` it was claimed with) – ``mark_*``,
        ``hold_contact``, ``transition``, ``set_fields``, ``add_log`` – changes nothing and
        raises :class:`~pm_xero_plugin.ledger.types.ClaimLost` unless the row still carries
        that token, and :meth:`release` gives back only the rows still held.

        The worker holds a batch's claims this way while it sends and settles it, so a worker
        whose claim another took (it was judged gone, then woke up) can neither settle nor
        re-send the row; everything below the worker (the sender, its look-ups) is fenced
        without carrying tokens. Other threads (hooks, an admin's action) are not fenced.
        """
        ...

    def get(self, row_id: int) -> Row | None:
        """One row by id, or ``None``."""
        ...

    def find(self, kind: str, host_id: str, tenant_id: str) -> Row | None:
        """The row of one host record in one organisation, or ``None``."""
        ...

    def payment_parts(self, payment_id: str) -> list[Row]:
        """Every row made from one host payment: one per allocation (``"<id>:<invoice>"``) and
        its overpayment (``"<id>"``), in every organisation (a key range: indexed)."""
        ...

    def rows_for_prefix(self, kind: str, prefix: str) -> list[Row]:
        """Every organisation's rows of ``kind`` whose host id starts with ``prefix`` (a
        deposit's allocations: ``"<deposit>:"``), by id."""
        ...

    def rows_for(self, kind: str, host_id: str) -> list[Row]:
        """Every organisation's row of one host record."""
        ...

    def facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Facts]:
        """Batch look-up of ``(kind, host_id, tenant_id)`` keys: one query per 300 keys."""
        ...

    def waiting_behind(
        self,
        gates: Collection[str],
        *,
        tenant_id: str | None = None,
        location_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows waiting behind one of ``gates`` (of one organisation and/or location), by id."""
        ...

    def on_their_way(
        self,
        gates: Collection[str],
        *,
        tenant_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows cleared to go (ready, retrying) or waiting behind one of ``gates``, by id."""
        ...

    def waiting_on(
        self,
        parent_kind: str,
        host_id: str,
        tenant_id: str,
        gates: Collection[str],
        *,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows waiting behind one of ``gates`` for one parent (a contact, invoice or credit
        note of the organisation), by id."""
        ...

    def cleared_against(
        self,
        parent_kind: str,
        host_id: str,
        tenant_id: str,
        kinds: Collection[str],
        *,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Rows of ``kinds`` cleared to go (ready, retrying) that name this parent, by id."""
        ...

    def invoice_with_dependants(
        self, invoice_id: str, tenant_id: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[Facts]:
        """An invoice and the rows that name it, while still on their way (waiting, ready,
        retrying), by id."""
        ...

    def retryable(
        self,
        gates: Collection[str],
        *,
        kind: str | None = None,
        tenant_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[Facts]:
        """Failed rows and rows waiting behind one of ``gates`` (of a kind and/or an
        organisation), by id: what an admin's "retry all" sends again."""
        ...

    def in_xero_against(self, invoice_id: str, tenant_id: str, kinds: Collection[str]) -> bool:
        """Whether a row of ``kinds`` naming this invoice (a payment, an allocation) is in Xero:
        Xero will then refuse to edit or void the invoice."""
        ...

    def found_in_xero(self, kind: str, host_ids: Iterable[str], tenant_id: str) -> set[str]:
        """Which of these records were *found* in Xero, not created by this ledger: linked to
        an existing number, matched by contact number, or linked by an admin. What hangs off
        them (a payment of such an invoice) may be in Xero already too – an earlier
        connection, a rebuilt ledger – so it is looked up before it is created."""
        ...

    def xero_id(self, kind: str, host_id: str, tenant_id: str) -> str | None:
        """The Xero id of a record in one organisation (a document's contact, a payment's
        invoice), or ``None`` when Xero does not have it (or it was resolved by hand)."""
        ...

    def dep(self, kind: str, host_id: str, tenant_id: str) -> Parent | None:
        """What the rules read of one row others depend on, or ``None`` when there is none."""
        ...

    def dep_facts(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Parent]:
        """:meth:`dep` for many keys (a backfill batch's dependencies: it must cost a few
        queries, not one per key); keys without a row are left out."""
        ...

    def insert(self, rows: Sequence[NewRow]) -> None:
        """Insert new rows (in the caller's transaction, or one of its own), counted in
        :meth:`counts` in the same transaction.

        A key (kind, host id, tenant) that exists already fails the whole transaction (the
        backend's integrity error): callers look up, then insert, inside one transaction.
        :raises IllegalTransition: a row that does not start waiting, ready or rejected.
        """
        ...

    def insert_new(self, rows: Sequence[NewRow]) -> list[bool]:
        """Insert the rows whose key (kind, host id, tenant) is not in the ledger yet; leave the
        others untouched. Returns, per row, whether it was inserted.

        Lets a first-time backfill write a batch without looking its keys up first (that look-up
        found nothing for almost every row).
        """
        ...

    def transition(self, row_id: int, target: str, **changes: Any) -> None:
        """Move one row to ``target`` (checked against its current state), setting ``changes``.

        :raises IllegalTransition: the row is missing or its state does not allow the move.
        """
        ...

    def transition_many(self, row_ids: Sequence[int], target: str, **changes: Any) -> None:
        """:meth:`transition` for several rows, all or nothing."""
        ...

    def set_fields(self, row_id: int, **changes: Any) -> None:
        """Change a row's data without changing its state (payload of a rejected row, …)."""
        ...

    def tenants_with_ready_work(
        self, now: datetime, *, take_from: Collection[str] = ()
    ) -> list[str]:
        """Organisations with something to claim now (ready, retry due, or held by an owner
        in ``take_from``: judged gone).

        Time-based gates (a future start date reached) are the engine's: the worker's loop
        calls ``Engine.tick`` before it looks here.
        """
        ...

    def claim(
        self,
        tenant_id: str,
        kind: str,
        *,
        limit: int = 50,
        lease_seconds: int = 120,
        worker_id: str,
        now: datetime,
        take_from: Collection[str] = (),
    ) -> list[Row]:
        """Atomically lease up to ``limit`` rows of one kind and tenant to ``worker_id``.

        Every claim takes a fresh ``claim_token`` from a ledger-wide counter that only grows and
        stores it on the rows it returns (see :meth:`fenced`).

        A row in ``sending`` is taken only from an owner in ``take_from`` (the owners the
        caller judged gone: ``sync/leases.py``), never from ``worker_id`` itself; no clock is
        compared (a wall clock that jumps past ``lease_seconds`` takes nothing from anybody).
        ``lease_seconds`` only sets the row's ``lease_until``, which says how long the claim
        is meant to last (:meth:`beat` renews it).

        Order: rows taken from a gone owner first (they are the oldest work), then retries that
        are due, then ready rows, each live before history (``priority``), then by business
        date and number. A row whose earlier attempt went out with an unknown outcome comes
        back with ``uncertain=True``.
        """
        ...

    def claim_next(
        self,
        tenant_id: str,
        kinds: Sequence[str],
        *,
        limit_for: Callable[[str], int],
        lease_seconds: int = 120,
        worker_id: str,
        now: datetime,
        take_from: Collection[str] = (),
    ) -> tuple[str, list[Row]]:
        """Claim one organisation's next batch: live work first, then history, each in
        ``kinds`` order (contacts, invoices, …, as :data:`pm_xero_plugin.xero.kinds.SEND_ORDER`).

        Without this a new payment waits until the back-sync has sent every remaining invoice
        of its organisation, because kinds are claimed in order. Live rows (``priority``) of
        a later kind may go before history of an earlier one without breaking the order
        contact → invoice → payment: a row is only ready once what it depends on is in Xero
        (the rules' dependency gates), and what a live row depends on is raised to live when
        it is recorded (:meth:`raise_priority`). Returns ``("", [])`` when nothing is due.
        """
        ...

    def has_live_work(
        self, tenant_id: str, now: datetime, *, take_from: Collection[str] = ()
    ) -> bool:
        """Whether a live row of the organisation is due now (the worker lets it use the part
        of the minute budget it keeps from history: see ``Worker``)."""
        ...

    def beat(self, worker_id: str, *, hostname: str, pid: int, lease_until: datetime) -> None:
        """``worker_id`` (a process ``pid`` on ``hostname``) is alive: count up its beat
        counter (its row is made on the first beat) and renew its claims' ``lease_until``."""
        ...

    def claim_owners(self) -> list[ClaimOwner]:
        """Every owner of a row in ``sending`` with its worker row's host, pid and beat counter
        (``None`` for an owner without one): what a judge of liveness reads."""
        ...

    def retire_worker(self, worker_id: str) -> None:
        """A worker stopped: forget its worker row unless it still holds claims."""
        ...

    def raise_priority(self, keys: Iterable[tuple[str, str, str]]) -> int:
        """Make these rows (and, transitively, what they depend on) live, unless their dependants
        may already go (``core.rules.dependency_satisfied``: an invoice with a queued edit rises).

        A live record's dependencies inherit its priority: a new payment to an invoice still in
        the back-sync's queue would otherwise wait for that queue, however it is claimed.
        Returns how many rows were raised.
        """
        ...

    def mark_sent(
        self,
        row_ids: Sequence[int],
        attempt_key: str,
        requests: Mapping[int, str] | None = None,
    ) -> None:
        """Durably note "a request for these rows is going out now, outcome unknown".

        Called before the HTTP request: after a crash the rows come back ``uncertain`` and the
        worker looks them up in Xero instead of creating them again. Counts one attempt.
        ``requests`` (row id -> its element of the request body, JSON): what :meth:`log` shows
        as sent; without it, the attempt's key.
        """
        ...

    def mark_synced(
        self,
        row_id: int,
        xero_id: str | None,
        reply: Mapping[str, Any] | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        """Xero has the record: store its id, and in the same transaction let the
        :class:`~pm_xero_plugin.ledger.interface.Dependants` promote what waited for it (a
        contact's documents, an invoice's payments and credit-note allocations)."""
        ...

    def mark_retrying(
        self,
        row_id: int,
        next_at: datetime,
        message: str,
        *,
        outcome_known: bool = False,
        status_code: int | None = None,
    ) -> None:
        """A transient failure: try again at ``next_at``. ``outcome_known=True`` (a 429, a refused
        connection) clears ``uncertain``; otherwise it stays as it was."""
        ...

    def mark_failed(
        self,
        row_id: int,
        message: str,
        field: str | None = None,
        hint: str | None = None,
        reply: Mapping[str, Any] | None = None,
        *,
        status_code: int | None = None,
        outcome_known: bool = True,
    ) -> None:
        """Xero refused it (or it cannot be sent): an admin has to act. Shown on the dashboard.

        ``outcome_known=False``: nothing was sent this time (the row could not be mapped), so an
        earlier attempt's doubt stays – an admin's retry then looks in Xero before sending.
        """
        ...

    def mark_waiting(self, row_id: int, gate: str, detail: str | None) -> None:
        """Hold a row behind a gate the worker learned from Xero (``lock_date``, …). It opens on
        an admin retry (or :meth:`reopen_gate`)."""
        ...

    def hold_contact(self, row_id: int, message: str, match: Mapping[str, Any] | None) -> None:
        """Xero gives this contact's name to a contact that is not provably ours: hold it for
        an admin (link it to ``match``, or create ours under a distinct name), keep what Xero
        said, and (through the :class:`~pm_xero_plugin.ledger.interface.Dependants`) tell the
        documents waiting for it why."""
        ...

    def describe_contact_wait(self, host_id: str, tenant_id: str, detail: str | None) -> int:
        """Set what the rows waiting for this contact (behind the ``contact`` gate) say about
        it: why it is not coming, or ``None`` when it is on its way. Returns how many."""
        ...

    def contact_conflicts(
        self, location_id: str | None = None, limit: int = 200
    ) -> list[tuple[Row, int]]:
        """Contacts held because Xero gives their name to a contact that is not ours, each
        with how many documents wait for it (newest first, capped; both indexed)."""
        ...

    def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back (ready again) without counting an attempt."""
        ...

    def assign_tenant(self, location_id: str, tenant_id: str) -> int:
        """Give rows recorded before their location had an organisation to that organisation.

        A row whose key already exists in the organisation (a contact met at two locations) is
        left behind and excluded as a duplicate. Returns how many rows moved.
        """
        ...

    def rehome(self, location_id: str, old_tenant: str, new_tenant: str) -> int:
        """A location now syncs to another organisation (nothing of it had reached the old
        one): its unsent rows move with it. A row whose key the new organisation already has (a
        contact met at another location) is excluded as a duplicate. Returns how many moved."""
        ...

    def reopen_gate(self, gate: str, tenant_id: str | None = None) -> int:
        """Make every row waiting behind an external gate ready again; returns how many."""
        ...

    def active_contacts(self, tenant_id: str) -> int:
        """Contacts of the organisation still on their way to Xero (held for an admin's
        decision does not count: it must not hold every other customer's documents)."""
        ...

    def tenant(self, tenant_id: str) -> TenantRecord:
        """One organisation's sync state (a fresh record for one the ledger has not seen)."""
        ...

    def tenants(self) -> list[TenantRecord]:
        """Every organisation the ledger knows, in one query (it is on the hot path)."""
        ...

    def set_tenant(self, tenant_id: str, **changes: Any) -> None:
        """Record an organisation (and change its sync state: ``connected``, ``codes_state`` …)."""
        ...

    def data_synced(self) -> bool:
        """Whether any document reached Xero in any organisation (locks the start date)."""
        ...

    def meta(self, key: str) -> str | None:
        """A ledger-wide value (the start date in force, a backfill checkpoint …)."""
        ...

    def set_meta(self, key: str, value: str | None) -> None:
        """Set a ledger-wide value (``None`` removes it)."""
        ...

    def cached_chart(
        self, tenant_id: str, what: str
    ) -> tuple[datetime, list[dict[str, Any]]] | None:
        """A cached part of an organisation's chart and when it was read, or ``None``."""
        ...

    def store_chart(self, tenant_id: str, what: str, body: list[dict[str, Any]]) -> None:
        """Cache one part of an organisation's chart (``accounts``, ``tax_rates`` …), timed now."""
        ...

    def counts(
        self, tenant_id: str | None = None, location_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Counts by organisation, location, kind, state (and gate, for waiting rows).

        Read from the ``counts`` table the triggers keep, so it costs the same at a million rows.
        """
        ...

    def problems(self, location_id: str | None = None, limit: int = 200) -> list[Row]:
        """Failed and rejected rows, payments held because their invoice is before the start
        date, and dependants of a parent that will never be sent by itself (waiting at its gate
        with a reason): what the dashboard lists one by one (indexed, newest first, capped)."""
        ...

    def find_rows(
        self,
        *,
        states: Sequence[str] = (),
        held_gates: Sequence[str] = (),
        kind: str | None = None,
        location_id: str | None = None,
        search: str | None = None,
        limit: int | None = 200,
    ) -> tuple[list[Row], int]:
        """Rows for the dashboard's filtered list (``pm-xero status --state/--kind/--search``),
        newest first, and how many match in all. A row matches when its state is in ``states``
        or it waits at one of ``held_gates``; ``search`` is a case-insensitive substring of its
        host id, number, Xero id, message, reason (``detail``), hint or what it sends (a
        customer's name, a reference). An admin's query, not
        the hot path: it may scan."""
        ...

    def search_rows(
        self, query: RowQuery, *, after: RowKey | None = None, limit: int = 50
    ) -> RowPage:
        """One page of the dashboard's search: rows matching every filter of ``query`` (number,
        customer words – the customer's contact rows, the documents naming the contact and the
        payments of its invoices –, states, kinds, date range, organisation, location), in
        :class:`~pm_xero_plugin.ledger.types.RowKey` order (newest business date first, rows
        without a date last), starting after ``after`` (keyset paging: pass the page's
        ``next_after``). Each filter is an index range scan: a page costs the same at a million
        rows. Following ``next_after`` from the first page lists every match exactly once."""
        ...

    def last_reply(self, row_id: int) -> dict[str, Any] | None:
        """What Xero last answered for a row, as kept (``ok``, ``errors``, ``warnings``, how it
        was matched …), or ``None`` when it never answered."""
        ...

    def excluded_reasons(self, location_id: str | None = None) -> list[dict[str, Any]]:
        """Why rows are excluded, counted per location, organisation, kind and reason (the
        ``detail`` every exclusion records: "voided before it reached Xero", "excluded by an
        admin", a duplicate …) – for the dashboard's "why excluded" lines."""
        ...

    def max_row_id(self) -> int:
        """The newest row's id (0 when empty): with :meth:`row_ids_after`, "what did this add"."""
        ...

    def row_ids_after(self, row_id: int) -> list[int]:
        """Ids of the rows created after ``row_id``."""
        ...

    def settled_among(self, row_ids: Iterable[int]) -> set[int]:
        """Which of these rows reached an end state (synced, failed, excluded or rejected)."""
        ...

    def log(self, row_id: int) -> list[dict[str, Any]]:
        """What was sent for a row and what Xero replied, oldest first."""
        ...

    def add_log(self, row_id: int, event: str, message: str | None) -> None:
        """Add a line to a row's history (an admin's action, an edit while in flight …)."""
        ...

    # -- Xero's side: webhook events, Xero's copies, the admin's marks ----------------------------

    def rows_of_tenant(
        self, tenant_id: str, kinds: Collection[str], *, after_id: int = 0, limit: int = 1000
    ) -> list[Row]:
        """Rows of one organisation of these kinds, any state, in id order, after ``after_id``
        (keyset paging: a reconciliation walks a tenant's 50,000 documents a page at a time)."""
        ...

    def add_xero_events(self, events: Sequence[XeroEvent]) -> list[bool]:
        """Keep events durably; for each, ``True`` when it is new, ``False`` when an event with its
        ``key`` is already kept (handled or not) – that one is left exactly as it was."""
        ...

    def pending_xero_events(self, limit: int = 500) -> list[XeroEvent]:
        """Events not handled yet, oldest arrival first."""
        ...

    def finish_xero_events(self, keys: Sequence[str], outcome: str, at: datetime) -> None:
        """Mark events handled with ``outcome`` (see :class:`XeroEvent`)."""
        ...

    def fail_xero_events(self, keys: Sequence[str], error: str) -> None:
        """Count a failed attempt on pending events and keep why; they stay pending."""
        ...

    def xero_event_counts(self) -> dict[str, int]:
        """``pending`` and ``handled`` counts, and one count per outcome."""
        ...

    def prune_xero_events(self, handled_before: datetime) -> int:
        """Forget events handled before ``handled_before`` (pending ones are always kept); how
        many. A caller keeps them longer than a replay is accepted, so "handled once" holds."""
        ...

    def store_xero_copies(self, copies: Sequence[XeroCopy]) -> None:
        """Keep Xero's versions, replacing what is kept for the same (tenant, kind, Xero id) –
        unless the kept one is newer (its ``updated_utc`` later): a slow read never wins over a
        newer version already known."""
        ...

    def xero_copies(
        self, tenant_id: str, kind: str, xero_ids: Iterable[str] | None = None
    ) -> dict[str, XeroCopy]:
        """Xero's versions kept for one organisation and kind, by Xero id (``xero_ids``: only
        those; ``None``: all of them)."""
        ...

    def set_books_mark(self, mark: BooksMark) -> None:
        """Keep a decision on a difference, replacing one for the same (tenant, kind, host id,
        difference)."""
        ...

    def clear_books_mark(self, tenant_id: str, kind: str, host_id: str, difference: str) -> None:
        """Forget a decision (nothing happens when there is none)."""
        ...

    def books_marks(self, tenant_id: str | None = None) -> list[BooksMark]:
        """The decisions kept (for one organisation, or all)."""
        ...
