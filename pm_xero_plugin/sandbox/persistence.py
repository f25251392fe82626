"""The sandbox's state file: JSON written atomically, so a killed sandbox resumes its books.

A demo's plugin ledger says "synced" for what the sandbox acknowledged; if the sandbox forgot it
on restart, the demo would show a lie. So the sandbox saves after every write, while its lock is
held, before the answer leaves: temp file, ``fsync``, ``os.replace``, directory ``fsync``. At any
instant the file is either the old state or the new one, never a torn mix.

Stored documents keep `Decimal`, `date` and `datetime` values; they are tagged in JSON
(``{"$dec": "10.00"}``, ``{"$date": …}``, ``{"$dt": …}``) and come back as the same types.
Each organisation is encoded separately and cached until it is written to again, so a write to one
organisation does not pay for re-encoding the others.
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

__all__ = ["FORMAT_VERSION", "decode", "dump_org", "encode", "load_org", "write_atomic"]

FORMAT_VERSION = 1

_ORG_FIELDS = [f.name for f in fields(Org)]


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
    return json.loads(text, object_hook=_hook)


def dump_org(org: Org) -> str:
    """One organisation as JSON text (no deep copy: encoded straight from the live stores)."""
    return encode({name: getattr(org, name) for name in _ORG_FIELDS})


def load_org(data: dict[str, Any]) -> Org:
    return Org(**{name: data[name] for name in _ORG_FIELDS if name in data})


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash at any point leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
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
