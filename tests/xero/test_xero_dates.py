"""Xero's ``/Date(ms±hhmm)/`` dates read without timezone shifts."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_xero_plugin.xero.dates import (
    format_xero_date,
    format_xero_ms_date,
    parse_xero_date,
    parse_xero_datetime,
)


def test_ms_date_without_offset_is_utc() -> None:
    assert parse_xero_datetime("/Date(1552327126164)/") == datetime(
        2019, 3, 11, 17, 58, 46, 164000, tzinfo=UTC
    )


def test_ms_date_with_zero_offset() -> None:
    assert parse_xero_datetime("/Date(1552327126164+0000)/") == datetime(
        2019, 3, 11, 17, 58, 46, 164000, tzinfo=UTC
    )


def test_ms_date_with_offset_keeps_the_instant_and_shows_the_wall_clock() -> None:
    parsed = parse_xero_datetime("/Date(1552327126164+1300)/")
    assert parsed.utcoffset() == timedelta(hours=13)
    assert (parsed.day, parsed.hour, parsed.minute) == (12, 6, 58)
    assert parsed == datetime(2019, 3, 11, 17, 58, 46, 164000, tzinfo=UTC)
    negative = parse_xero_datetime("/Date(1552327126164-0530)/")
    assert negative.tzinfo == timezone(-timedelta(hours=5, minutes=30))
    assert (negative.hour, negative.minute) == (12, 28)


def test_negative_epochs_are_dates_before_1970() -> None:
    assert parse_xero_datetime("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=UTC)
    assert parse_xero_date("/Date(-2208988800000+0000)/") == date(1900, 1, 1)


def test_date_fields_are_midnight_utc_and_read_back_as_the_same_day() -> None:
    assert parse_xero_date("/Date(1552348800000+0000)/") == date(2019, 3, 12)


def test_reading_does_not_depend_on_the_machine_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert parse_xero_date("/Date(1552348800000+0000)/") == date(2019, 3, 12)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-12", date(2019, 3, 12)),
        ("2019-03-12T00:00:00", date(2019, 3, 12)),
        (" /Date(1552348800000)/ ", date(2019, 3, 12)),
    ],
)
def test_iso_forms_are_read_too(text: str, expected: date) -> None:
    assert parse_xero_date(text) == expected


def test_iso_datetime_without_offset_is_utc() -> None:
    assert parse_xero_datetime("2019-11-14T18:10:38") == datetime(
        2019, 11, 14, 18, 10, 38, tzinfo=UTC
    )
    assert parse_xero_datetime("2019-11-14T18:10:38Z").tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["/Date(abc)/", "/Date(1552348800000+2500)/", "12/03/2019", "", "2019-13-01"]
)
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"Xero date"):
        parse_xero_datetime(text) if text.startswith("/") else parse_xero_date(text)


def test_formatting() -> None:
    assert format_xero_date(date(2025, 3, 1)) == "2025-03-01"
    assert format_xero_ms_date(date(2019, 3, 12)) == "/Date(1552348800000+0000)/"
    with pytest.raises(ValueError, match="naive"):
        format_xero_ms_date(datetime(2019, 3, 12))


@settings(max_examples=200, deadline=None)
@given(st.dates())
def test_dates_round_trip(day: date) -> None:
    assert parse_xero_date(format_xero_ms_date(day)) == day


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_datetimes_round_trip_to_the_millisecond(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_xero_datetime(format_xero_ms_date(moment)) == moment
