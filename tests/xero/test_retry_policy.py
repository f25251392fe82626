"""The retry policy's pure functions: what is retried, how long we wait, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from pm_xero_plugin.xero.errors import OutcomeUnknown, RateLimited, TransientError
from pm_xero_plugin.xero.retry import backoff_delay, parse_retry_after, should_retry


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_the_last_attempt(status: int) -> None:
    assert should_retry(status, 1)
    assert should_retry(status, 4, max_attempts=5)
    assert not should_retry(status, 5, max_attempts=5)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429])
def test_client_errors_and_429_are_not_retried_here(status: int) -> None:
    assert not should_retry(status, 1)


def test_connect_errors_and_transient_errors_are_retried_but_unknown_outcomes_are_not() -> None:
    request = httpx.Request("GET", "https://api.xero.com/")
    assert should_retry(httpx.ConnectError("refused", request=request), 1)
    assert should_retry(httpx.ConnectTimeout("slow", request=request), 1)
    assert should_retry(TransientError("503"), 1)
    assert not should_retry(httpx.ReadTimeout("read", request=request), 1)
    assert not should_retry(OutcomeUnknown("sent?"), 1)
    assert not should_retry(RateLimited(3.0, "minute"), 1)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not bunched at 0
        assert min(delays) < ceiling * 0.2


def test_backoff_is_capped() -> None:
    rng = random.Random(2)
    assert all(backoff_delay(30, cap=30.0, rng=rng) <= 30.0 for _ in range(100))


def test_backoff_is_deterministic_for_a_seeded_rng() -> None:
    first = [backoff_delay(a, rng=random.Random(5)) for a in range(1, 6)]
    second = [backoff_delay(a, rng=random.Random(5)) for a in range(1, 6)]
    assert first == second


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    assert backoff_delay(1, rng=random.Random(0), retry_after=12.0) == 12.0
    assert backoff_delay(1, cap=5.0, rng=random.Random(0), retry_after=45.0) == 45.0


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match=r"1-based"):
        backoff_delay(0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (" 2.5 ", 2.5), (None, None), ("", None), ("soon", None), ("-3", None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 01 Mar 2025 09:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 08:00:00 GMT", now=now) == 0.0
