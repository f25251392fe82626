"""The retry policy as small pure functions (after stripe-python's ``_http_client.py``).

Kept free of I/O so it can be tested exhaustively and read in one sitting. What we add to
stripe's policy: Xero's ``Retry-After`` (seconds or an HTTP date) is honoured as a floor, and a
429 is never retried here – the worker decides when that tenant goes next, so one throttled
organisation never holds up another.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from pm_xero_plugin.xero.errors import TransientError

__all__ = [
    "IDEMPOTENCY_WINDOW",
    "RETRYABLE_STATUSES",
    "backoff_delay",
    "may_have_been_sent",
    "parse_retry_after",
    "should_retry",
]

#: Statuses that mean "Xero could not handle it right now". 429 is deliberately absent.
RETRYABLE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})

#: Seconds after a write's first send during which it may be sent again with the same
#: Idempotency-Key: Xero remembers a key for 6 minutes, and this leaves a minute's margin.
IDEMPOTENCY_WINDOW = 300.0

#: httpx errors raised before the request could reach Xero: always safe to send again.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

#: Statuses from a gateway that may have passed the request on before failing (503 means the
#: request was refused unprocessed, so it is not among them).
_MAYBE_PROCESSED_STATUSES: frozenset[int] = RETRYABLE_STATUSES - {503}


def may_have_been_sent(failure: BaseException | int) -> bool:
    """Whether a write that failed this way may have been processed by Xero all the same.

    True for a timeout or dropped connection after the request left (any httpx error but the
    connect/pool ones) and for a 500/502/504; false for everything Xero answered definitely
    (4xx, 429, 503) and for errors raised before a byte was sent.
    """
    if isinstance(failure, int):
        return failure in _MAYBE_PROCESSED_STATUSES
    return isinstance(failure, httpx.HTTPError) and not isinstance(failure, _NOT_SENT_ERRORS)


def _is_transient(failure: BaseException | int) -> bool:
    if isinstance(failure, int):
        return failure in RETRYABLE_STATUSES
    return isinstance(failure, TransientError | httpx.HTTPError)


def should_retry(
    failure: BaseException | int,
    attempt: int,
    *,
    max_attempts: int = 5,
    read: bool = False,
    maybe_sent: bool = False,
    since_first_send: float | None = None,
    idempotency_window: float = IDEMPOTENCY_WINDOW,
    delay: float = 0.0,
    max_delay: float = math.inf,
) -> bool:
    """Whether attempt number ``attempt`` (1-based, just failed with ``failure``) goes again.

    The client's only retry decision (stripe-python's ``_should_retry`` shape). ``failure`` is
    the HTTP status Xero answered, or the error raised instead of an answer. The table:

    - attempts used up, or a pause (``delay``) longer than ``max_delay`` (Xero's
      ``Retry-After`` asked for one: the worker schedules it) – **no**;
    - not transient: any 4xx, 429 (the worker reschedules that tenant, so one throttled
      organisation never holds up another), :class:`OutcomeUnknown`, :class:`RateLimited` – **no**;
    - a read (``read``), or a write that surely never reached Xero (a connect error, a 503) –
      **yes**;
    - a write that may have been processed (``maybe_sent`` by an earlier attempt, or
      :func:`may_have_been_sent` of this failure): **yes** only with the same Idempotency-Key
      and only while Xero surely remembers it – the resend would go ``since_first_send``
      seconds after the first send, which must be known and under ``idempotency_window``;
      otherwise **no**, and the caller must look the records up before sending again.
    """
    if attempt >= max_attempts or delay > max_delay:
        return False
    if not _is_transient(failure):
        return False
    if read or not (maybe_sent or may_have_been_sent(failure)):
        return True
    return since_first_send is not None and since_first_send < idempotency_window


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
