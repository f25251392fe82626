"""The retry policy as small pure functions (after stripe-python's ``_http_client.py``).

Kept free of I/O so it can be tested exhaustively and read in one sitting. What we add to
stripe's policy: Xero's ``Retry-After`` (seconds or an HTTP date) is honoured as a floor, and a
429 is never retried here – the worker decides when that tenant goes next, so one throttled
organisation never holds up another.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from pm_xero_plugin.xero.errors import TransientError

__all__ = [
    "RETRYABLE_STATUSES",
    "backoff_delay",
    "parse_retry_after",
    "should_retry",
]

#: Statuses that mean "Xero could not handle it right now". 429 is deliberately absent.
RETRYABLE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})

#: httpx errors raised before the request could reach Xero: always safe to send again.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def should_retry(
    exc_or_status: BaseException | int, attempt: int, *, max_attempts: int = 5
) -> bool:
    """Whether attempt number ``attempt`` (1-based, just failed) deserves another try.

    Retries: 500/502/503/504, :class:`TransientError`, and httpx connect/pool errors. Not
    retried: 429 (the worker reschedules that tenant), 4xx, and anything else – in particular a
    timeout after the body was sent, whose safety depends on the idempotency window (the client
    decides that, see :mod:`pm_xero_plugin.xero.client`).
    """
    if attempt >= max_attempts:
        return False
    if isinstance(exc_or_status, int):
        return exc_or_status in RETRYABLE_STATUSES
    return isinstance(exc_or_status, (TransientError, *_NOT_SENT_ERRORS))


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rng: random.Random | None = None,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before the next attempt: "full jitter" ``uniform(0, min(cap, base·2ⁿ⁻¹))``.

    Full jitter spreads many clients' retries out instead of synchronising them. When Xero sent
    ``Retry-After``, the delay is at least that long (the server knows best); the cap only
    bounds our own guess.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    source = rng if rng is not None else random.Random()
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    delay = source.uniform(0.0, ceiling)
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: Xero sends seconds; RFC 9110 also allows a date.

    Returns ``None`` for a missing or unreadable header (never raises: a bad header must not
    turn a 429 into a crash).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        reference = now if now is not None else datetime.now(UTC)
        return max(0.0, (when - reference).total_seconds())
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds
