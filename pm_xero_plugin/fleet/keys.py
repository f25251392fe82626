"""How one worker tells many practices' organisations and rows apart.

The worker schedules by a tenant key and settles by row ids. In a fleet, two practices may
both use an organisation id (a test's, a shared one) and, on SQLite ledgers, both count rows
from 1, so the fleet hands the worker:

* tenant keys ``"<practice id>\\x1f<tenant id>"`` (the unit separator: neither id holds it);
* row ids with the practice's number in the high bits (:data:`ROW_BITS` below it: a ledger of
  more rows than 2**48 is beyond any practice).
"""

from __future__ import annotations

__all__ = ["KEY_SEP", "ROW_BITS", "fleet_key", "fleet_row_id", "local_row_id", "split_key"]

KEY_SEP = "\x1f"
ROW_BITS = 48
_ROW_MASK = (1 << ROW_BITS) - 1


def fleet_key(practice_id: str, tenant_id: str) -> str:
    """The worker's key for an organisation of a practice."""
    return f"{practice_id}{KEY_SEP}{tenant_id}"


def split_key(key: str) -> tuple[str, str]:
    """``(practice id, tenant id)`` of a worker's key.

    :raises ValueError: the key is not a fleet key.
    """
    practice_id, sep, tenant_id = key.partition(KEY_SEP)
    if not sep:
        raise ValueError(f"not a fleet key: {key!r}")
    return practice_id, tenant_id


def fleet_row_id(index: int, row_id: int) -> int:
    """The worker's id for row ``row_id`` of the practice opened as number ``index``."""
    if not 0 <= row_id <= _ROW_MASK:
        raise ValueError(f"row id {row_id} does not fit in {ROW_BITS} bits")
    return (index << ROW_BITS) | row_id


def local_row_id(fleet_id: int) -> tuple[int, int]:
    """``(practice number, row id in its ledger)`` of a worker's row id."""
    return fleet_id >> ROW_BITS, fleet_id & _ROW_MASK
