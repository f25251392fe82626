"""What the host offers a plugin: the ``host`` object passed to ``pm_startup``.

A plugin keeps the reference and calls it from its own threads, so every method here must be
safe to call from any thread. The reference host (:mod:`hookspecs.refhost`) is one implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from hookspecs.records import Location

__all__ = ["HistoryKind", "Host", "Practices", "practice_id_of"]

HistoryKind = Literal[
    "clients", "invoices", "credit_notes", "payments", "payouts", "deposits", "refunds"
]
"""The kinds of record :meth:`Host.iter_history` can stream."""


@runtime_checkable
class Host(Protocol):
    """The host's services, as seen by a plugin."""

    def locations(self) -> list[Location]:
        """Every location of the business, in a stable order. Small: a business has a few."""
        ...

    def iter_history(
        self,
        kind: HistoryKind,
        location_id: str | None = None,
        since: date | None = None,
        *,
        changed_since: datetime | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        """Stream the host's stored records of one kind, oldest first.

        An **iterator**, never a list: a ten-year practice must not land in memory. The host reads
        in pages behind it. Records have the shapes in :mod:`hookspecs.records`.

        :param kind: which records.
        :param location_id: only this location's records; ``None`` for all locations.
        :param since: only documents dated on or after this local business date (invoice date for
            invoices and credit notes, paid date for payments, deposits, refunds and payouts – a
            plugin asks for deposits from further back, as one taken before the window may be
            applied to an invoice inside it). Ignored for ``clients``, which
            are always streamed whole: a customer from before the window may pay inside it.
            With ``location_id``, ``clients`` are the location's own customers **plus** every
            customer with a document there: each site's organisation needs its visitors.
        :param changed_since: a change cursor: only records the host stored (created or changed)
            at or after this moment of its own clock (:meth:`now`), whatever their dates – for
            ``clients`` too. ``None`` (the default): every record. A plugin reconciles with it:
            hooks fire after the host's commit, so a crash between the host's commit and the
            plugin's loses the hook, and the plugin asks "what changed since I last looked?"
            instead of re-reading ten years. The host must answer it from an index (a column of
            the moment each record was stored), not by reading every record; a record's
            ``updated_at`` is normally that moment. Combined with ``since`` and ``location_id``
            (both still apply).
        """
        ...

    def get_record(self, kind: HistoryKind, record_id: str) -> Mapping[str, Any] | None:
        """One stored record by its host id, or ``None`` if the host has none with that id."""
        ...

    def data_dir(self, plugin: str) -> Path:
        """A directory that belongs to ``plugin`` alone, created if missing; kept."""
        ...

    def now(self) -> datetime:
        """The host's current time, timezone-aware. Tests move it; plugins must not use ``time``."""
        ...

    def settings(self, plugin: str) -> Mapping[str, Any]:
        """The settings last saved for ``plugin`` (after ``validate_settings`` accepted them)."""
        ...

    def is_enabled(self, plugin: str) -> bool:
        """Whether the admin has switched ``plugin`` on in the host's settings."""
        ...

    def secret(self, plugin: str) -> bytes:
        """A stable 32-byte secret for ``plugin`` to encrypt what it stores (tokens, keys).

        The host keeps it outside the plugin's data directory, so a copied data directory alone
        reveals nothing.
        """
        ...


@runtime_checkable
class Practices(Protocol):
    """A host that serves many practices in one process (Pet Manager is a hosted service).

    ``pm_startup`` receives it once; every practice-scoped hook then names its practice
    (``practice_id``, see :mod:`hookspecs.spec`), and :meth:`practice` gives that practice's own
    :class:`Host` – its locations, history, settings, data directory and secret, never another's.
    """

    def practices(self) -> list[str]:
        """The ids of every practice the host serves now (it may grow while running)."""
        ...

    def practice(self, practice_id: str) -> Host:
        """One practice's services (a :class:`Host` whose ``practice_id`` is ``practice_id``).

        :raises KeyError: the host serves no practice of that id.
        """
        ...


def practice_id_of(host: Host) -> str | None:
    """A one-practice host's id, when it offers one as ``host.practice_id`` (optional: a host
    written before many practices existed has none)."""
    value = getattr(host, "practice_id", None)
    return value if isinstance(value, str) and value else None
