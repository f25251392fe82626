"""Xero's ``Idempotency-Key`` replay cache: 6 minutes of sandbox time, errors cached too.

It exists so that a client's quick retry of an ambiguous write returns the first answer instead
of writing twice; after 6 minutes the client's own look-up-before-resend must take over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["TTL", "CachedResponse", "IdempotencyCache"]

TTL = timedelta(minutes=6)


@dataclass(frozen=True)
class CachedResponse:
    """The first answer to a request with an Idempotency-Key, replayed for a retry of it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class _Entry:
    fingerprint: str
    expires: datetime
    response: CachedResponse | None  # None while the first request is still being handled


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same" for a key: method, path, query and body."""
    h = hashlib.sha256()
    for part in (method.upper(), path, query):
        h.update(part.encode() + b"\0")
    h.update(body)
    return h.hexdigest()


class IdempotencyCache:
    """Per tenant and key. Not thread-safe: used under the sandbox lock."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def lookup(
        self, tenant_id: str, key: str, fp: str, now: datetime
    ) -> tuple[str, CachedResponse | None]:
        """Return ``("new", None)``, ``("replay", response)`` or ``("conflict", None)``."""
        entry = self._entries.get((tenant_id, key))
        if entry is None or entry.expires <= now:
            self._entries[(tenant_id, key)] = _Entry(fp, now + TTL, None)
            return "new", None
        if entry.fingerprint != fp:
            return "conflict", None
        if entry.response is None:
            return "in_progress", None
        return "replay", entry.response

    def store(self, tenant_id: str, key: str, response: CachedResponse) -> None:
        """Remember the answer for a key's request (Xero replays it to a retry in the window)."""
        entry = self._entries.get((tenant_id, key))
        if entry is not None:
            entry.response = response

    def forget(self, tenant_id: str, key: str) -> None:
        """Drop a key whose request never completed (e.g. a 5xx before the write)."""
        self._entries.pop((tenant_id, key), None)

    def purge(self, now: datetime) -> None:
        """Forget keys whose window has passed by ``now``."""
        for k in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[k]
