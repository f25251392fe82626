"""Xero's side of the PostgreSQL ledger: webhook events, Xero's copies, the admin's marks, and
an organisation's rows page by page (``docs/reconciliation.md``, "Ledger"; schema version 2 in
:mod:`.postgres_schema`; the rules both backends share in :mod:`.books`).

A mixin of :class:`~pm_xero_plugin.ledger.postgres.PostgresLedger`: every statement names the
view's practice, and each table's key and indexes lead with it, so a practice's ledger sees
its own events, copies and marks only, whatever else the fleet's database holds. Batches go in
as one ``INSERT … SELECT FROM json_to_recordset(…)`` per chunk (one round trip for thousands
of copies; see :func:`_batch`), deduplicated first – an upsert statement may touch a key only
once – by the same rule the statement applies to what is kept. Two deliveries of one event
at once: ``ON CONFLICT DO NOTHING`` makes the second wait for the first and then keep nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from pm_xero_plugin.ledger.books import (
    EVENT_OUTCOMES,
    NEWER_WINS_SQL,
    chunks,
    first_of_each,
    order_of,
    unique,
    winners,
)
from pm_xero_plugin.ledger.columns import MAX_TEXT
from pm_xero_plugin.ledger.types import BooksMark, Row, XeroCopy, XeroEvent

if TYPE_CHECKING:
    from pm_xero_plugin.ledger.postgres_schema import Conn

__all__ = ["PostgresBooks"]

_CHUNK: Final = 10_000
"""Items per statement (one round trip each; a statement's parameter stays a few megabytes)."""

_EVENT_COLUMNS: Final = (
    "key, tenant_id, category, event_type, resource_id, event_date, received_at, handled_at, "
    "outcome, attempts, error"
)
_MARK_COLUMNS: Final = (
    "tenant_id, kind, host_id, difference, action, xero_fingerprint, host_hash, at, decided_by, "
    "note"
)


def _batch(records: Sequence[dict[str, Any]]) -> str:
    """A batch as one JSON text, unpacked by the server (``json_to_recordset``, which parses each
    record once): psycopg's array literals are quoted in Python, character by character – the
    arrays of 50,000 copies took 3 s to quote, where :func:`json.dumps` takes a tenth of that.
    A summary goes in as a JSON text within it (the server would refuse to turn an escaped NUL
    of a nested object into text, and keeps the string as it is).
    Key lists stay arrays (``= ANY(%s::text[])``): short texts quote fast, and the server hashes
    a constant array however the table's statistics stand."""
    return json.dumps(records, separators=(",", ":"))


def _t(text: str) -> str:
    """``text`` as PostgreSQL's ``text`` holds it (no NUL: shown as U+FFFD, as the rows do)."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _opt(text: str | None) -> str | None:
    return None if text is None else _t(text)


def _capped(text: str) -> str:
    text = _t(text)
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"… [{len(text)} characters, cut]"


def _event(r: Sequence[Any]) -> XeroEvent:
    return XeroEvent(
        key=r[0],
        tenant_id=r[1],
        category=r[2],
        event_type=r[3],
        resource_id=r[4],
        event_date=r[5],
        received_at=r[6],
        handled_at=r[7],
        outcome=r[8],
        attempts=r[9],
        error=r[10],
    )


def _mark(r: Sequence[Any]) -> BooksMark:
    return BooksMark(
        tenant_id=r[0],
        kind=r[1],
        host_id=r[2],
        difference=r[3],
        action=r[4],
        xero_fingerprint=r[5],
        host_hash=r[6],
        at=r[7],
        by=r[8],
        note=r[9],
    )


class PostgresBooks:
    """The reconciliation's operations of :class:`~pm_xero_plugin.ledger.postgres.PostgresLedger`
    (see the module's docstring)."""

    _p: str

    if TYPE_CHECKING:  # the ledger's own, which this mixin reads and writes through

        def _tx(self) -> AbstractContextManager[Conn]: ...

        def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _rows_by_id(self, ids: Sequence[int]) -> list[Row]: ...

    # -- an organisation's rows -----------------------------------------------------------------

    def rows_of_tenant(
        self, tenant_id: str, kinds: Collection[str], *, after_id: int = 0, limit: int = 1000
    ) -> list[Row]:
        """Rows of one organisation of these kinds, any state, in id order, after ``after_id``.

        One range of ``rows_tenant`` (practice, tenant, kind, id) per kind, each cut at
        ``limit``, merged: a page reads at most ``limit`` ids per kind and then its rows."""
        wanted = sorted(set(kinds))
        if not wanted or limit <= 0:
            return []
        arm = (
            "(SELECT id FROM rows WHERE practice_id = %s AND tenant_id = %s AND kind = %s "
            "AND id > %s ORDER BY id LIMIT %s)"
        )
        params: list[Any] = []
        for kind in wanted:
            params += [self._p, tenant_id, kind, after_id, limit]
        ids = [
            r[0]
            for r in self._q(
                f"SELECT id FROM ({' UNION ALL '.join([arm] * len(wanted))}) AS page "
                "ORDER BY id LIMIT %s",
                [*params, limit],
            )
        ]
        return sorted(self._rows_by_id(ids), key=lambda row: row.id)

    # -- webhook events -------------------------------------------------------------------------

    def add_xero_events(self, events: Sequence[XeroEvent]) -> list[bool]:
        """Keep the events whose key is new, in one transaction; per event, whether it was
        (a repeat within the batch is not: its first is)."""
        if not events:
            return []
        first = list(first_of_each(events).values())
        added: set[str] = set()
        with self._tx() as conn:
            for chunk in chunks(first, _CHUNK):
                added.update(self._insert_events(conn, chunk))
        seen: set[str] = set()
        flags = []
        for e in events:
            key = _t(e.key)
            flags.append(key in added and key not in seen)
            seen.add(key)
        return flags

    def _insert_events(self, conn: Conn, events: Sequence[XeroEvent]) -> Iterator[str]:
        batch = [
            {
                "key": _t(e.key),
                "tenant_id": _t(e.tenant_id),
                "category": _t(e.category),
                "event_type": _t(e.event_type),
                "resource_id": _t(e.resource_id),
                "event_date": _t(e.event_date),
                "received_at": e.received_at.isoformat(),
                "handled_at": None if e.handled_at is None else e.handled_at.isoformat(),
                "outcome": _opt(e.outcome),
                "attempts": e.attempts,
                "error": None if e.error is None else _capped(e.error),
            }
            for e in events
        ]
        found = conn.execute(
            f"INSERT INTO xero_events (practice_id, {_EVENT_COLUMNS}) "
            f"SELECT %s, {_EVENT_COLUMNS} FROM ROWS FROM (json_to_recordset(%s::json) "
            "AS (key text, tenant_id text, category text, event_type text, resource_id text, "
            "event_date text, received_at timestamptz, handled_at timestamptz, outcome text, "
            f"attempts integer, error text)) WITH ORDINALITY AS u({_EVENT_COLUMNS}, n) ORDER BY n "
            "ON CONFLICT (practice_id, key) DO NOTHING RETURNING key",
            (self._p, _batch(batch)),
        ).fetchall()
        return (r[0] for r in found)

    def pending_xero_events(self, limit: int = 500) -> list[XeroEvent]:
        """Events not handled yet, oldest arrival first (``xero_events_pending``)."""
        found = self._q(
            f"SELECT {_EVENT_COLUMNS} FROM xero_events WHERE practice_id = %s "
            "AND handled_at IS NULL ORDER BY received_at, seq LIMIT %s",
            (self._p, max(limit, 0)),
        )
        return [_event(r) for r in found]

    def finish_xero_events(self, keys: Sequence[str], outcome: str, at: datetime) -> None:
        """Mark pending events handled with ``outcome``; one already handled keeps its first
        handling.

        :raises ValueError: ``outcome`` is not one of :data:`~.books.EVENT_OUTCOMES`.
        """
        if outcome not in EVENT_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r} (one of {sorted(EVENT_OUTCOMES)})")
        with self._tx() as conn:
            for chunk in chunks(unique(_t(k) for k in keys), _CHUNK):
                conn.execute(
                    "UPDATE xero_events SET handled_at = %s, outcome = %s WHERE practice_id = %s "
                    "AND key = ANY(%s::text[]) AND handled_at IS NULL",
                    (at, outcome, self._p, list(chunk)),
                )

    def fail_xero_events(self, keys: Sequence[str], error: str) -> None:
        """Count a failed attempt on pending events and keep why; they stay pending."""
        with self._tx() as conn:
            for chunk in chunks(unique(_t(k) for k in keys), _CHUNK):
                conn.execute(
                    "UPDATE xero_events SET attempts = attempts + 1, error = %s "
                    "WHERE practice_id = %s AND key = ANY(%s::text[]) AND handled_at IS NULL",
                    (_capped(error), self._p, list(chunk)),
                )

    def prune_xero_events(self, handled_before: datetime) -> int:
        """Forget this practice's events handled before ``handled_before``; pending ones stay."""
        with self._tx() as conn:
            cursor = conn.execute(
                "DELETE FROM xero_events WHERE practice_id = %s AND handled_at IS NOT NULL "
                "AND handled_at < %s",
                (self._p, handled_before),
            )
            return int(cursor.rowcount)

    def xero_event_counts(self) -> dict[str, int]:
        """``pending`` and ``handled`` (always there), and one count per outcome met."""
        counts = {"pending": 0, "handled": 0}
        for outcome, n in self._q(
            "SELECT outcome, count(*) FROM xero_events WHERE practice_id = %s GROUP BY outcome",
            (self._p,),
        ):
            if outcome is None:
                counts["pending"] += int(n)
            else:
                counts["handled"] += int(n)
                counts[outcome] = int(n)
        return counts

    # -- Xero's copies --------------------------------------------------------------------------

    def store_xero_copies(self, copies: Sequence[XeroCopy]) -> None:
        """Keep Xero's versions, newer wins (:mod:`.books`), in one transaction: the batch's
        winner per key, then one upsert per :data:`_CHUNK` copies.

        :raises ValueError: a copy's ``updated_utc`` is not an ISO date-time (nothing stored).
        :raises TypeError: a summary JSON cannot hold (nothing stored).
        """
        if not copies:
            return
        best = winners(copies)
        batch = [
            {
                "t": _t(c.tenant_id),
                "k": _t(c.kind),
                "x": _t(c.xero_id),
                "s": json.dumps(c.summary, separators=(",", ":")),
                "u": _opt(c.updated_utc),
                "o": order_of(c.updated_utc),
                "r": c.read_at.isoformat(),
                "g": bool(c.gone),
            }
            for c in best
        ]
        with self._tx() as conn:
            for chunk in chunks(batch, _CHUNK):
                conn.execute(
                    "INSERT INTO xero_copies (practice_id, tenant_id, kind, xero_id, summary, "
                    "updated_utc, updated_order, read_at, gone) "
                    "SELECT %s, t, k, x, s, u, o, r, g FROM json_to_recordset(%s::json) "
                    "AS c(t text, k text, x text, s text, u text, o text, r timestamptz, "
                    "g boolean) "
                    "ON CONFLICT (practice_id, tenant_id, kind, xero_id) DO UPDATE SET "
                    "summary = excluded.summary, updated_utc = excluded.updated_utc, "
                    "updated_order = excluded.updated_order, read_at = excluded.read_at, "
                    f"gone = excluded.gone WHERE {NEWER_WINS_SQL}",
                    (self._p, _batch(chunk)),
                )

    def xero_copies(
        self, tenant_id: str, kind: str, xero_ids: Iterable[str] | None = None
    ) -> dict[str, XeroCopy]:
        """Xero's versions kept for one organisation and kind, by Xero id (``xero_ids``: only
        those, :data:`_CHUNK` a statement; ``None``: all of them, one key range)."""
        select = (
            "SELECT xero_id, summary, updated_utc, read_at, gone FROM xero_copies "
            "WHERE practice_id = %s AND tenant_id = %s AND kind = %s"
        )
        if xero_ids is None:
            found = self._q(select, (self._p, tenant_id, kind))
        else:
            found = []
            for chunk in chunks(unique(_t(i) for i in xero_ids), _CHUNK):
                found += self._q(
                    f"{select} AND xero_id = ANY(%s::text[])",
                    (self._p, tenant_id, kind, list(chunk)),
                )
        return {
            xero_id: XeroCopy(
                tenant_id=tenant_id,
                kind=kind,
                xero_id=xero_id,
                summary=json.loads(summary),
                updated_utc=updated_utc,
                read_at=read_at,
                gone=gone,
            )
            for xero_id, summary, updated_utc, read_at, gone in found
        }

    # -- the admin's marks ----------------------------------------------------------------------

    def set_books_mark(self, mark: BooksMark) -> None:
        """Keep a decision on a difference, replacing one for the same (tenant, kind, host id,
        difference)."""
        with self._tx() as conn:
            conn.execute(
                f"INSERT INTO books_marks (practice_id, {_MARK_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (practice_id, tenant_id, kind, host_id, difference) DO UPDATE SET "
                "action = excluded.action, xero_fingerprint = excluded.xero_fingerprint, "
                "host_hash = excluded.host_hash, at = excluded.at, "
                "decided_by = excluded.decided_by, note = excluded.note",
                (
                    self._p,
                    _t(mark.tenant_id),
                    _t(mark.kind),
                    _t(mark.host_id),
                    _t(mark.difference),
                    _t(mark.action),
                    _t(mark.xero_fingerprint),
                    _t(mark.host_hash),
                    mark.at,
                    _opt(mark.by),
                    None if mark.note is None else _capped(mark.note),
                ),
            )

    def clear_books_mark(self, tenant_id: str, kind: str, host_id: str, difference: str) -> None:
        """Forget a decision (nothing happens when there is none)."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM books_marks WHERE practice_id = %s AND tenant_id = %s AND kind = %s "
                "AND host_id = %s AND difference = %s",
                (self._p, _t(tenant_id), _t(kind), _t(host_id), _t(difference)),
            )

    def books_marks(self, tenant_id: str | None = None) -> list[BooksMark]:
        """The decisions kept (for one organisation, or all), by their key."""
        found = self._q(
            f"SELECT {_MARK_COLUMNS} FROM books_marks WHERE practice_id = %s "
            "AND (%s::text IS NULL OR tenant_id = %s) ORDER BY 1, 2, 3, 4",
            (self._p, tenant_id, tenant_id),
        )
        return [_mark(r) for r in found]
