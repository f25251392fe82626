"""Xero's date formats: ``/Date(ms+0000)/`` out, ISO or ``/Date()/`` in.

Stored documents keep real `date`/`datetime`/`Decimal` values; `render` turns them into Xero's
wire shapes at the edge, adding the ``…String`` twin Xero sends beside every date field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["format_ms", "lock_date_text", "parse_date", "render"]

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_date(value: Any) -> date:
    """Read a date as Xero accepts it: ``2024-02-01``, ``2024-02-01T00:00:00`` or ``/Date(ms)/``.

    :raises ValueError: with a message fit for a ValidationError.
    """
    if isinstance(value, date):
        return value if not isinstance(value, datetime) else value.date()
    if not isinstance(value, str):
        raise ValueError(f"'{value}' is not a valid date")
    m = _MS_DATE.match(value.strip())
    if m:
        return (_EPOCH + timedelta(milliseconds=int(m.group(1)))).date()
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"'{value}' is not a valid date") from None


def format_ms(value: date | datetime) -> str:
    """``/Date(1706745600000+0000)/`` for a date (midnight UTC) or an aware datetime."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    ms = int((value.astimezone(UTC) - _EPOCH).total_seconds() * 1000)
    return f"/Date({ms}+0000)/"


def lock_date_text(value: date) -> str:
    """The form Xero's lock-date message uses: ``30-Nov-2018``."""
    return value.strftime("%d-%b-%Y")


def render(value: Any) -> Any:
    """Turn a stored object into Xero's JSON shape (private ``_keys`` dropped)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.startswith("_"):
                continue
            if isinstance(item, date) and not isinstance(item, datetime):
                out[key] = format_ms(item)
                out[f"{key}String"] = f"{item.isoformat()}T00:00:00"
            else:
                out[key] = render(item)
        return out
    if isinstance(value, list | tuple):
        return [render(v) for v in value]
    if isinstance(value, datetime):
        return format_ms(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
