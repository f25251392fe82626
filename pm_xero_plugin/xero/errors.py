"""Errors the Xero client raises, one class per decision the worker has to make.

The worker never inspects HTTP statuses: it reads the class. Each class answers "what now?":

- :class:`RateLimited` – wait ``retry_after`` for *this tenant only*, then send again (nothing was
  sent, or Xero refused it before doing anything).
- :class:`TransientError` – nothing happened in Xero; retry later with backoff.
- :class:`OutcomeUnknown` – the write may have happened: look it up in Xero by number/reference
  before sending it again (the Idempotency-Key only lives 6 minutes).
- :class:`ReconnectRequired` – the location's connection is gone: pause it, tell the admin.
- :class:`ValidationFailed` – Xero refused the whole request with its own message.
- :class:`NotFound` – the object does not exist in Xero.

``message`` is always Xero's own text (or ours); a token or secret is never put in an exception.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthorizationFailed",
    "NotFound",
    "OutcomeUnknown",
    "RateLimited",
    "ReconnectRequired",
    "TransientError",
    "ValidationFailed",
    "XeroError",
]


class XeroError(Exception):
    """Base class: a Xero call did not give the plugin what it asked for.

    :param message: Xero's message (``Message``/``detail``) or a short description of ours.
    :param tenant_id: the organisation the call was for, when there was one.
    :param status: the HTTP status, or ``None`` when no response arrived.
    """

    def __init__(
        self, message: str, *, tenant_id: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.tenant_id = tenant_id
        self.status = status

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.tenant_id:
            parts.append(f"tenant {self.tenant_id}")
        return " – ".join(parts)


class RateLimited(XeroError):
    """A rate limit (Xero's 429, or our own limiter's refusal) – for one tenant only.

    :param retry_after: seconds until that tenant may call again (``None``: Xero gave no
        ``Retry-After``, e.g. the concurrency limit – back off yourself).
    :param problem: Xero's ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``…) or the
        local limiter's reason (``local-minute``, ``local-day``, ``local-concurrent``, ``blocked``).
    """

    def __init__(
        self,
        retry_after: float | None,
        problem: str,
        *,
        tenant_id: str | None = None,
        status: int | None = 429,
        message: str | None = None,
    ) -> None:
        super().__init__(
            message or f"rate limited ({problem}); retry after {retry_after}s",
            tenant_id=tenant_id,
            status=status,
        )
        self.retry_after = retry_after
        self.problem = problem


class TransientError(XeroError):
    """Xero did nothing with the request (5xx, connect error, timeout before sending, a read).

    :param retry_after: Xero's ``Retry-After`` when it sent one (e.g. a 503).
    """

    def __init__(
        self,
        message: str,
        *,
        tenant_id: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, tenant_id=tenant_id, status=status)
        self.retry_after = retry_after


class OutcomeUnknown(XeroError):
    """A write was (perhaps) sent and no definite answer came back: it may exist in Xero.

    Before sending the same records again, look them up (``find_*`` on the client) and adopt
    what is already there. ``idempotency_key`` is the key the attempts used; ``first_sent_at`` is
    the client clock's monotonic time of the first send (a retry with the same key is only safe
    while Xero still remembers it, 6 minutes).
    """

    def __init__(
        self,
        message: str,
        *,
        tenant_id: str | None = None,
        status: int | None = None,
        idempotency_key: str | None = None,
        first_sent_at: float | None = None,
    ) -> None:
        super().__init__(message, tenant_id=tenant_id, status=status)
        self.idempotency_key = idempotency_key
        self.first_sent_at = first_sent_at


class ReconnectRequired(XeroError):
    """The connection is unusable until an admin reconnects (``invalid_grant``, 403, revoked)."""


class ValidationFailed(XeroError):
    """Xero refused the whole request (a 400 not tied to one element of a batch).

    :param elements: Xero's ``Elements`` when it sent them (each with its ``ValidationErrors``).
    :param errors: every validation message found, in order – not just the first one.
    """

    def __init__(
        self,
        message: str,
        *,
        tenant_id: str | None = None,
        status: int | None = 400,
        elements: list[dict[str, Any]] | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message, tenant_id=tenant_id, status=status)
        self.elements = elements or []
        self.errors = errors or []


class NotFound(XeroError):
    """Xero answered 404: the object (or endpoint) does not exist for that tenant."""


class AuthorizationFailed(XeroError):
    """The OAuth2 flow could not complete: bad or expired ``state``, the admin refused, or the
    identity server rejected the code. The admin starts "Connect to Xero" again."""
