"""A credit note's allocation is sent with the date Xero gives it: the later of the credit
note's and the invoice's dates (Xero ignores any other)."""

from __future__ import annotations

from typing import Any

from support.mapping_strategies import credit_note, line

from pm_xero_plugin.mapping.documents import credit_note_allocation_payload

INVOICE_ID = "4f0c2a56-0000-4000-8000-00000000a001"


def _note(date: str) -> dict[str, Any]:
    return credit_note(line(), date=date)


def test_allocation_takes_the_invoice_date_when_the_invoice_is_later() -> None:
    payload = credit_note_allocation_payload(
        _note("2025-01-10"), invoice_id=INVOICE_ID, invoice_date="2025-02-03"
    )
    assert payload["Date"] == "2025-02-03"


def test_allocation_takes_the_credit_note_date_when_it_is_later() -> None:
    payload = credit_note_allocation_payload(
        _note("2025-02-10"), invoice_id=INVOICE_ID, invoice_date="2025-02-03"
    )
    assert payload["Date"] == "2025-02-10"


def test_an_explicit_allocation_date_is_sent_as_given() -> None:
    payload = credit_note_allocation_payload(
        _note("2025-01-10"), invoice_id=INVOICE_ID, date="2025-03-01", invoice_date="2025-02-03"
    )
    assert payload["Date"] == "2025-03-01"
