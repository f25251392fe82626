"""Xero's side of the SQLite ledger: webhook events, Xero's copies, the admin's marks, and an
organisation's rows page by page (``docs/reconciliation.md``, "Ledger"; schema version 6 in
:mod:`.migrations`; the rules both backends share in :mod:`.books`).

A mixin of :class:`~pm_xero_plugin.ledger.sqlite.SqliteLedger`, kept apart so the reconciliation's
storage reads in one place: it uses the ledger's connection, lock and transactions, nothing else.
Times are stored as every time in this file is, epoch seconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pm_xero_plugin.ledger.books import (
    EVENT_OUTCOMES,
    NEWER_WINS_SQL,
    chunks,
    first_of_each,
    order_of,
    unique,
)
from pm_xero_plugin.ledger.columns import MAX_TEXT
from pm_xero_plugin.ledger.types import BooksMark, Row, XeroCopy, XeroEvent

__all__ = ["SqliteBooks"]

_CHUNK: Final = 500
"""Keys per statement where a batch is looked up by key (SQLite's parameter limit)."""

_EVENT_COLUMNS: Final = (
    "key, tenant_id, category, event_type, resource_id, event_date, received_at, handled_at, "
    "outcome, attempts, error"
)
_COPY_COLUMNS: Final = "xero_id, summary, updated_utc, read_at, gone"
_MARK_COLUMNS: Final = (
    "tenant_id, kind, host_id, difference, action, xero_fingerprint, host_hash, at, decided_by, "
    "note"
)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _capped(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"… [{len(text)} characters, cut]"


def _event(r: Sequence[Any]) -> XeroEvent:
    received = _moment(r[6])
    assert received is not None
    return XeroEvent(
        key=r[0],
        tenant_id=r[1],
        category=r[2],
        event_type=r[3],
        resource_id=r[4],
        event_date=r[5],
        received_at=received,
        handled_at=_moment(r[7]),
        outcome=r[8],
        attempts=r[9],
        error=r[10],
    )


def _mark(r: Sequence[Any]) -> BooksMark:
    at = _moment(r[7])
    assert at is not None
    return BooksMark(
        tenant_id=r[0],
        kind=r[1],
        host_id=r[2],
        difference=r[3],
        action=r[4],
        xero_fingerprint=r[5],
        host_hash=r[6],
        at=at,
        by=r[8],
        note=r[9],
    )


class SqliteBooks:
    """The reconciliation's operations of :class:`~pm_xero_plugin.ledger.sqlite.SqliteLedger`
    (see the module's docstring)."""

    _conn: sqlite3.Connection

    if TYPE_CHECKING:  # the ledger's own, which this mixin writes through

        def transaction(self, timeout: float | None = None) -> AbstractContextManager[None]:
            """One write transaction (the ledger's, re-entrant)."""
            ...

        def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _rows_by_id(self, ids: Sequence[int]) -> list[Row]: ...

    # -- an organisation's rows -----------------------------------------------------------------

    def rows_of_tenant(
        self, tenant_id: str, kinds: Collection[str], *, after_id: int = 0, limit: int = 1000
    ) -> list[Row]:
        """Rows of one organisation of these kinds, any state, in id order, after ``after_id``.

        One range of ``rows_tenant`` (tenant, kind, id) per kind, each cut at ``limit``, merged:
        a page reads at most ``limit`` ids per kind and then its rows, wherever it starts."""
        wanted = sorted(set(kinds))
        if not wanted or limit <= 0:
            return []
        arm = (
            "SELECT id FROM (SELECT id FROM rows WHERE tenant_id = ? AND kind = ? AND id > ? "
            "ORDER BY id LIMIT ?)"
        )
        params: list[Any] = []
        for kind in wanted:
            params += [tenant_id, kind, after_id, limit]
        ids = [
            r[0]
            for r in self._q(
                f"{' UNION ALL '.join([arm] * len(wanted))} ORDER BY 1 LIMIT ?", [*params, limit]
            )
        ]
        return sorted(self._rows_by_id(ids), key=lambda row: row.id)

    # -- webhook events -------------------------------------------------------------------------

    def add_xero_events(self, events: Sequence[XeroEvent]) -> list[bool]:
        """Keep the events whose key is new, in one transaction; per event, whether it was
        (a repeat within the batch is not: its first is)."""
        if not events:
            return []
        first = first_of_each(events)
        with self.transaction():
            kept: set[str] = set()
            for chunk in chunks(list(first), _CHUNK):
                kept.update(
                    r[0]
                    for r in self._conn.execute(
                        f"SELECT key FROM xero_events WHERE key IN ({','.join('?' * len(chunk))})",
                        list(chunk),
                    )
                )
            new = [e for key, e in first.items() if key not in kept]
            self._conn.executemany(
                f"INSERT INTO xero_events ({_EVENT_COLUMNS}) VALUES ({','.join('?' * 11)})",
                [
                    (
                        e.key,
                        e.tenant_id,
                        e.category,
                        e.event_type,
                        e.resource_id,
                        e.event_date,
                        _epoch(e.received_at),
                        None if e.handled_at is None else _epoch(e.handled_at),
                        e.outcome,
                        e.attempts,
                        e.error,
                    )
                    for e in new
                ],
            )
        added, seen, flags = {e.key for e in new}, set[str](), []
        for e in events:
            flags.append(e.key in added and e.key not in seen)
            seen.add(e.key)
        return flags

    def pending_xero_events(self, limit: int = 500) -> list[XeroEvent]:
        """Events not handled yet, oldest arrival first (``xero_events_pending``)."""
        found = self._q(
            f"SELECT {_EVENT_COLUMNS} FROM xero_events WHERE handled_at IS NULL "
            "ORDER BY received_at, rowid LIMIT ?",
            (max(limit, 0),),
        )
        return [_event(r) for r in found]

    def finish_xero_events(self, keys: Sequence[str], outcome: str, at: datetime) -> None:
        """Mark pending events handled with ``outcome``; one already handled keeps its first
        handling.

        :raises ValueError: ``outcome`` is not one of :data:`~.books.EVENT_OUTCOMES`.
        """
        if outcome not in EVENT_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r} (one of {sorted(EVENT_OUTCOMES)})")
        with self.transaction():
            self._conn.executemany(
                "UPDATE xero_events SET handled_at = ?, outcome = ? "
                "WHERE key = ? AND handled_at IS NULL",
                [(_epoch(at), outcome, key) for key in unique(keys)],
            )

    def fail_xero_events(self, keys: Sequence[str], error: str) -> None:
        """Count a failed attempt on pending events and keep why; they stay pending."""
        with self.transaction():
            self._conn.executemany(
                "UPDATE xero_events SET attempts = attempts + 1, error = ? "
                "WHERE key = ? AND handled_at IS NULL",
                [(_capped(error), key) for key in unique(keys)],
            )

    def prune_xero_events(self, handled_before: datetime) -> int:
        """Forget events handled before ``handled_before``; pending ones stay."""
        with self.transaction():
            cursor = self._conn.execute(
                "DELETE FROM xero_events WHERE handled_at IS NOT NULL AND handled_at < ?",
                (_epoch(handled_before),),
            )
        return int(cursor.rowcount)

    def xero_event_counts(self) -> dict[str, int]:
        """``pending`` and ``handled`` (always there), and one count per outcome met."""
        counts = {"pending": 0, "handled": 0}
        for outcome, n in self._q("SELECT outcome, count(*) FROM xero_events GROUP BY outcome"):
            if outcome is None:
                counts["pending"] += n
            else:
                counts["handled"] += n
                counts[outcome] = n
        return counts

    # -- Xero's copies --------------------------------------------------------------------------

    def store_xero_copies(self, copies: Sequence[XeroCopy]) -> None:
        """Keep Xero's versions, one upsert per copy in one transaction, newer wins
        (:mod:`.books`: a copy one after another in the batch as across calls).

        :raises ValueError: a copy's ``updated_utc`` is not an ISO date-time (nothing stored).
        :raises TypeError: a summary JSON cannot hold (nothing stored).
        """
        if not copies:
            return
        params = [
            (
                c.tenant_id,
                c.kind,
                c.xero_id,
                json.dumps(c.summary, separators=(",", ":")),
                c.updated_utc,
                order_of(c.updated_utc),
                _epoch(c.read_at),
                int(c.gone),
            )
            for c in copies
        ]
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO xero_copies (tenant_id, kind, xero_id, summary, updated_utc, "
                "updated_order, read_at, gone) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, kind, xero_id) DO UPDATE SET summary = excluded.summary, "
                "updated_utc = excluded.updated_utc, updated_order = excluded.updated_order, "
                f"read_at = excluded.read_at, gone = excluded.gone WHERE {NEWER_WINS_SQL}",
                params,
            )

    def xero_copies(
        self, tenant_id: str, kind: str, xero_ids: Iterable[str] | None = None
    ) -> dict[str, XeroCopy]:
        """Xero's versions kept for one organisation and kind, by Xero id (``xero_ids``: only
        those, looked up :data:`_CHUNK` at a time; ``None``: all of them, one key range)."""
        if xero_ids is None:
            found = self._q(
                f"SELECT {_COPY_COLUMNS} FROM xero_copies WHERE tenant_id = ? AND kind = ?",
                (tenant_id, kind),
            )
        else:
            found = []
            for chunk in chunks(unique(xero_ids), _CHUNK):
                found += self._q(
                    f"SELECT {_COPY_COLUMNS} FROM xero_copies WHERE tenant_id = ? AND kind = ? "
                    f"AND xero_id IN ({','.join('?' * len(chunk))})",
                    [tenant_id, kind, *chunk],
                )
        out: dict[str, XeroCopy] = {}
        for xero_id, summary, updated_utc, read_at, gone in found:
            out[xero_id] = XeroCopy(
                tenant_id=tenant_id,
                kind=kind,
                xero_id=xero_id,
                summary=json.loads(summary),
                updated_utc=updated_utc,
                read_at=datetime.fromtimestamp(read_at, UTC),
                gone=bool(gone),
            )
        return out

    # -- the admin's marks ----------------------------------------------------------------------

    def set_books_mark(self, mark: BooksMark) -> None:
        """Keep a decision on a difference, replacing one for the same (tenant, kind, host id,
        difference)."""
        with self.transaction():
            self._conn.execute(
                f"INSERT INTO books_marks ({_MARK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, kind, host_id, difference) DO UPDATE SET "
                "action = excluded.action, xero_fingerprint = excluded.xero_fingerprint, "
                "host_hash = excluded.host_hash, at = excluded.at, "
                "decided_by = excluded.decided_by, note = excluded.note",
                (
                    mark.tenant_id,
                    mark.kind,
                    mark.host_id,
                    mark.difference,
                    mark.action,
                    mark.xero_fingerprint,
                    mark.host_hash,
                    _epoch(mark.at),
                    mark.by,
                    None if mark.note is None else _capped(mark.note),
                ),
            )

    def clear_books_mark(self, tenant_id: str, kind: str, host_id: str, difference: str) -> None:
        """Forget a decision (nothing happens when there is none)."""
        with self.transaction():
            self._conn.execute(
                "DELETE FROM books_marks WHERE tenant_id = ? AND kind = ? AND host_id = ? "
                "AND difference = ?",
                (tenant_id, kind, host_id, difference),
            )

    def books_marks(self, tenant_id: str | None = None) -> list[BooksMark]:
        """The decisions kept (for one organisation, or all), by their key."""
        where, params = ("WHERE tenant_id = ? ", [tenant_id]) if tenant_id is not None else ("", [])
        found = self._q(
            f"SELECT {_MARK_COLUMNS} FROM books_marks {where}ORDER BY 1, 2, 3, 4", params
        )
        return [_mark(r) for r in found]
