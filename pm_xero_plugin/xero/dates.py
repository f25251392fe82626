"""Read and write the dates Xero puts on the wire, without timezone shifts.

Xero answers with Microsoft JSON dates – ``/Date(1552327126164+0000)/`` – beside an ISO
``…String`` twin. The number is milliseconds since the Unix epoch **in UTC**; the optional
``±hhmm`` suffix is the offset the writer was in. The classic bugs (seen in every Xero SDK's issue
tracker) are calling ``datetime.fromtimestamp`` (which silently applies the *machine's* zone, so
a document dated 2019-03-12 reads back as 2019-03-11 in the Americas) and crashing on negative
epochs (dates before 1970, which Windows' ``fromtimestamp`` rejects). Here the arithmetic is done
with ``timedelta`` from a fixed UTC epoch, so neither can happen.

Xero dates without a time (``Date``, ``DueDate``) are midnight UTC of the business date; reading
them as a ``date`` in the given offset gives back exactly the date that was sent.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "format_xero_date",
    "format_xero_ms_date",
    "parse_xero_date",
    "parse_xero_datetime",
]

_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _offset(text: str | None) -> timezone:
    if not text:
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[3:5])
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {text!r} in Xero date")
    delta = sign * timedelta(hours=hours, minutes=minutes)
    return UTC if not delta else timezone(delta)


def parse_xero_datetime(value: str) -> datetime:
    """An aware datetime from ``/Date(ms±hhmm)/`` or an ISO-8601 string.

    The result is in the offset Xero gave (UTC when none was given), so the wall-clock fields
    are what Xero meant and ``.astimezone`` is never needed to read them. ISO strings without an
    offset (Xero's ``UpdatedDateUTCString`` / ``DateString``) are taken as UTC.

    :raises ValueError: when the text is neither form.
    """
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        tz = _offset(match.group("offset"))
        instant = _EPOCH + timedelta(milliseconds=int(match.group("ms")))
        return instant.astimezone(tz)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a Xero date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_xero_date(value: str) -> date:
    """The calendar date of a Xero date field (``/Date(…)/``, ``YYYY-MM-DD`` or ISO datetime).

    No local-zone conversion is applied: ``/Date(1552348800000+0000)/`` is 2019-03-12 on every
    machine.
    """
    text = value.strip()
    if len(text) == 10 and not text.startswith("/"):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a Xero date") from None
    return parse_xero_datetime(text).date()


def format_xero_date(value: date) -> str:
    """``YYYY-MM-DD``: the form Xero accepts for every date we send."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def format_xero_ms_date(value: date | datetime) -> str:
    """``/Date(ms+0000)/`` as Xero writes it: a date is midnight UTC, a datetime must be aware.

    :raises ValueError: for a naive datetime – its instant is ambiguous.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no instant; give it a timezone")
        instant = value
    else:
        instant = datetime(value.year, value.month, value.day, tzinfo=UTC)
    ms = (instant - _EPOCH) // timedelta(milliseconds=1)
    return f"/Date({ms}+0000)/"
