"""The retry policy's pure functions: what is retried, how long we wait, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from pm_xero_plugin.xero.errors import OutcomeUnknown, RateLimited, TransientError
from pm_xero_plugin.xero.retry import (
    backoff_delay,
    may_have_been_sent,
    parse_retry_after,
    should_retry,
)

REQUEST = httpx.Request("PUT", "https://api.xero.com/api.xro/2.0/Invoices")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_the_last_attempt(status: int) -> None:
    # A read, or a write whose first send was just now (the same key is still remembered).
    assert should_retry(status, 1, read=True)
    assert should_retry(status, 1, since_first_send=0.0)
    assert should_retry(status, 4, max_attempts=5, since_first_send=0.0)
    assert not should_retry(status, 5, max_attempts=5, since_first_send=0.0)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429])
def test_client_errors_and_429_are_not_retried_here(status: int) -> None:
    assert not should_retry(status, 1)
    assert not should_retry(status, 1, read=True)


def test_connect_errors_and_transient_errors_are_retried_but_unknown_outcomes_are_not() -> None:
    assert should_retry(httpx.ConnectError("refused", request=REQUEST), 1)
    assert should_retry(httpx.ConnectTimeout("slow", request=REQUEST), 1)
    assert should_retry(TransientError("503"), 1)
    assert not should_retry(httpx.ReadTimeout("read", request=REQUEST), 1)
    assert not should_retry(OutcomeUnknown("sent?"), 1)
    assert not should_retry(RateLimited(3.0, "minute"), 1)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read", request=REQUEST),
        httpx.RemoteProtocolError("dropped", request=REQUEST),
        httpx.WriteError("reset", request=REQUEST),
        500,
        502,
        504,
    ],
)
def test_a_write_that_may_have_been_processed_is_resent_only_inside_the_key_window(
    failure: BaseException | int,
) -> None:
    assert may_have_been_sent(failure)
    assert should_retry(failure, 1, since_first_send=299.0, idempotency_window=300.0)
    assert not should_retry(failure, 1, since_first_send=300.0, idempotency_window=300.0)
    assert not should_retry(failure, 1)  # when it was first sent is not known: look up first


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused", request=REQUEST), 503, 400, 429])
def test_a_failure_before_xero_did_anything_is_not_in_doubt(failure: BaseException | int) -> None:
    assert not may_have_been_sent(failure)


def test_a_write_in_doubt_from_an_earlier_attempt_keeps_the_window_for_a_clean_failure() -> None:
    # A connect error now says nothing about the first send, which may have been processed.
    refused = httpx.ConnectError("refused", request=REQUEST)
    assert should_retry(refused, 2, maybe_sent=True, since_first_send=10.0)
    assert not should_retry(refused, 2, maybe_sent=True, since_first_send=400.0)
    assert not should_retry(503, 2, maybe_sent=True)


def test_a_read_is_resent_whatever_happened_to_the_first_one() -> None:
    assert should_retry(httpx.ReadTimeout("read", request=REQUEST), 1, read=True)
    assert should_retry(500, 1, read=True, maybe_sent=True)


def test_a_pause_longer_than_the_cap_is_left_to_the_worker() -> None:
    assert should_retry(503, 1, delay=30.0, max_delay=30.0)
    assert not should_retry(503, 1, delay=30.5, max_delay=30.0)


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
