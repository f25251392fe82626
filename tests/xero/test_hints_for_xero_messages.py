"""Xero's messages that look alike but mean different things get different treatment: a
contact-number clash is not a name clash, and both lock dates hold a document as waiting with
the date Xero named."""

from __future__ import annotations

import pytest

from pm_xero_plugin.xero.hints import diagnose

NUMBER_CLASH = (
    "The contact number C42 is already assigned to another contact. The contact number must be "
    "unique across all contacts."
)
NAME_CLASH = (
    "The contact name Jane Pawson (C42) is already assigned to another contact. The contact "
    "name must be unique across all active contacts."
)


def test_a_contact_number_clash_links_to_xeros_contact_and_is_not_called_a_name_clash() -> None:
    number, name = diagnose(NUMBER_CLASH), diagnose(NAME_CLASH)
    assert number.duplicate_number
    assert "contact number" in number.hint
    assert "name" not in number.hint.split("contact number")[0]
    assert not name.duplicate_number
    assert "already has this name" in name.hint
    assert number.hint != name.hint


@pytest.mark.parametrize(
    ("message", "date", "who"),
    [
        (
            "The document date cannot be before the period lock date, currently set at 30-Nov-2018",
            "30-Nov-2018",
            "except advisers",
        ),
        (
            "The document date cannot be before the end of year lock date, currently set at "
            "31-Jul-2013",
            "31-Jul-2013",
            "advisers included",
        ),
        (
            "The payment date cannot be before the end of year lock date, currently set at "
            "30-Jun-2024",
            "30-Jun-2024",
            "advisers included",
        ),
    ],
)
def test_both_lock_dates_hold_the_document_waiting_with_the_date_xero_named(
    message: str, date: str, who: str
) -> None:
    diagnosis = diagnose(message)
    assert diagnosis.gate == "lock_date"
    assert not diagnosis.transient
    assert date in diagnosis.hint
    assert who in diagnosis.hint
