"""What both ledger backends share for Xero's side (webhook events, Xero's copies, the admin's
marks: ``docs/reconciliation.md``, "Ledger"): the rules, so SQLite and PostgreSQL cannot drift.

* **Newer wins** (:func:`replaces`, :data:`NEWER_WINS_SQL`): a copy read later may carry an
  older version than one already kept – a bulk read started before a webhook's re-read, a write
  response racing a read. The kept copy is replaced unless it is provably newer:
  an incoming ``gone`` copy always replaces (Xero said now that it has no such document: the
  newest news there is); otherwise it replaces when the kept copy has no ``updated_utc`` (nothing
  says it is newer – a ``gone`` copy usually has none, so a document read back replaces it), or
  when the incoming one has an ``updated_utc`` at least as late (the same version read again
  refreshes ``read_at``). An incoming copy without ``updated_utc`` never replaces a dated one.
* **Time order** (:func:`order_of`): ``UpdatedDateUTC`` strings differ in form (``Z`` or
  ``+00:00`` or no zone, milliseconds or none), and as text ``…:00Z`` sorts after ``…:00.5``.
  Each copy also keeps its time normalised (UTC, microseconds, fixed width): the rule compares
  that; ``updated_utc`` is given back exactly as it was stored.
* **Outcomes** (:data:`EVENT_OUTCOMES`): what ``finish_xero_events`` accepts (a typo would
  otherwise be counted as an outcome of its own for ever).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final, TypeVar

from pm_xero_plugin.ledger.types import XeroCopy, XeroEvent

__all__ = [
    "EVENT_OUTCOMES",
    "NEWER_WINS_SQL",
    "chunks",
    "first_of_each",
    "order_of",
    "replaces",
    "unique",
    "winners",
]

_T = TypeVar("_T")

EVENT_OUTCOMES: Final = frozenset({"read", "own", "not_ours", "unknown_tenant", "given_up"})
"""How an event can have been handled (:class:`~pm_xero_plugin.ledger.types.XeroEvent`)."""

NEWER_WINS_SQL: Final = (
    "excluded.gone OR xero_copies.updated_order IS NULL "
    "OR excluded.updated_order >= xero_copies.updated_order"
)
""":func:`replaces` as the ``WHERE`` of an upsert's ``DO UPDATE`` (the same text in SQLite and
PostgreSQL: a NULL incoming order compares as unknown, so it replaces nothing dated)."""


def order_of(updated_utc: str | None) -> str | None:
    """``updated_utc`` as a text that sorts in time order: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffff``
    (a time without a zone is UTC, as Xero's ``UpdatedDateUTC`` is).

    :raises ValueError: not an ISO date-time (a bug in the summary: nothing is stored).
    """
    if updated_utc is None:
        return None
    try:
        moment = datetime.fromisoformat(updated_utc)
    except ValueError:
        raise ValueError(f"updated_utc {updated_utc!r} is not an ISO date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def replaces(kept: XeroCopy, incoming: XeroCopy) -> bool:
    """Whether ``incoming`` replaces ``kept`` (the module's "newer wins")."""
    if incoming.gone:
        return True
    kept_order = order_of(kept.updated_utc)
    if kept_order is None:
        return True
    incoming_order = order_of(incoming.updated_utc)
    return incoming_order is not None and incoming_order >= kept_order


def winners(copies: Sequence[XeroCopy]) -> list[XeroCopy]:
    """One copy per (tenant, kind, Xero id) of a batch: what storing them one after the other
    would leave (an upsert statement may touch a key only once)."""
    best: dict[tuple[str, str, str], XeroCopy] = {}
    for copy in copies:
        key = (copy.tenant_id, copy.kind, copy.xero_id)
        kept = best.get(key)
        if kept is None or replaces(kept, copy):
            best[key] = copy
    return list(best.values())


def first_of_each(events: Iterable[XeroEvent]) -> dict[str, XeroEvent]:
    """The first event of each key in a batch, in the batch's order (a later one with the same
    key is a repeat: it adds nothing)."""
    first: dict[str, XeroEvent] = {}
    for event in events:
        first.setdefault(event.key, event)
    return first


def unique(keys: Iterable[str]) -> list[str]:
    """``keys`` once each, in order (an attempt is counted once per event, however often named)."""
    return list(dict.fromkeys(keys))


def chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    """``items`` in slices of at most ``size`` (a statement's parameters stay bounded)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
