"""The sandbox's state file: JSON written atomically, so a killed sandbox resumes its books.

A demo's plugin ledger says "synced" for what the sandbox acknowledged; if the sandbox forgot it
on restart, the demo would show a lie. So the sandbox saves after every write, while its lock is
held, before the answer leaves: temp file, ``fsync``, ``os.replace``, directory ``fsync``. At any
instant the file is either the old state or the new one, never a torn mix.

Stored documents keep `Decimal`, `date` and `datetime` values; they are tagged in JSON
(``{"$dec": "10.00"}``, ``{"$date": …}``, ``{"$dt": …}``) and come back as the same types.
Encoding is the cost (fsync of a few MB is cheap), so each document's JSON is cached and only the
documents a write touched are encoded again – see `OrgEncoder`.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .orgs import Org

__all__ = [
    "FORMAT_VERSION",
    "PRIVATE_FILE",
    "OrgEncoder",
    "decode",
    "encode",
    "ids_in",
    "load_org",
    "write_atomic",
]

FORMAT_VERSION = 1

_ORG_FIELDS = [f.name for f in fields(Org)]
#: the stores that grow with use; each of their documents is cached as its own JSON fragment
_DOCUMENT_STORES = (
    "contacts",
    "invoices",
    "credit_notes",
    "payments",
    "bank_transactions",
    "overpayments",
    "prepayments",
    "bank_transfers",
)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the sandbox state")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dec" in obj:
            return Decimal(obj["$dec"])
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj


def encode(value: Any) -> str:
    """Compact JSON with `Decimal`/`date`/`datetime` tagged."""
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)


def decode(text: str) -> Any:
    """Read a state file's JSON back, with the dates and Decimals it was written with."""
    return json.loads(text, object_hook=_hook)


def ids_in(record: Any, into: set[str]) -> None:
    """Every ``…ID`` value in `record` (nested): the documents a write's result refers to.

    Xero's side effects only ever land on documents an element references – a payment on its
    invoice, an allocation on its invoice and credit note, an invoice on its (maybe new) contact –
    so these ids are exactly the documents to encode again.
    """
    if isinstance(record, dict):
        for key, value in record.items():
            if key.endswith("ID") and isinstance(value, str):
                into.add(value.lower())
            elif isinstance(value, dict | list):
                ids_in(value, into)
    elif isinstance(record, list):
        for item in record:
            ids_in(item, into)


class OrgEncoder:
    """One organisation's JSON, re-encoding only the documents a write touched.

    New documents are always encoded (a key not in the cache); changed ones must be named in
    `touched`. Everything else in the organisation (accounts, tax rates, tracking, counters) is
    small and encoded every time.
    """

    def __init__(self, org: Org) -> None:
        self.org = org
        self._docs: dict[str, dict[str, str]] = {name: {} for name in _DOCUMENT_STORES}

    def forget(self, ids: set[str] | None = None) -> None:
        """Drop cached fragments for `ids` (every document when ``None``)."""
        for cache in self._docs.values():
            if ids is None:
                cache.clear()
            else:
                for doc_id in ids:
                    cache.pop(doc_id, None)

    def encode(self) -> str:
        """The organisation as JSON, re-using the cached fragments of untouched documents."""
        parts = []
        for name in _ORG_FIELDS:
            if name in self._docs:
                cache, store = self._docs[name], getattr(self.org, name)
                items = []
                for key, doc in store.items():
                    item = cache.get(key)
                    if item is None:
                        item = cache[key] = f"{json.dumps(key)}:{encode(doc)}"
                    items.append(item)
                parts.append(f'"{name}":{{{",".join(items)}}}')
            else:
                parts.append(f'"{name}":{encode(getattr(self.org, name))}')
        return "{" + ",".join(parts) + "}"


def load_org(data: dict[str, Any]) -> Org:
    """An organisation from its decoded state."""
    return Org(**{name: data[name] for name in _ORG_FIELDS if name in data})


PRIVATE_FILE = 0o600
"""The state holds organisations' books (names, emails, amounts) and the identity's records: its
user's only. A folder made for it is 0700."""


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash at any point leaves the old or the new file
    (0600, whatever the umask)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)  # a leftover temporary file keeps its mode on O_TRUNC
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
