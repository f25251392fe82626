"""No control character or bidirectional override reaches Xero in a name or a description.

A BEL or an escape sequence typed into a customer's name, a newline in a single-line field, a
RIGHT-TO-LEFT OVERRIDE (U+202E) that makes ``Smith‮gpj.exe`` read backwards – each is removed
before the payload is built (a tab or a line break becomes a space, so words stay apart); a line
item's description is the one field Xero shows on several lines, so it keeps ``\\n``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_core import OpenAPI
from support.mapping_strategies import credit_note, invoice, line, org_mapping

from pm_xero_plugin.mapping.contacts import contact_payload
from pm_xero_plugin.mapping.documents import credit_note_payload, invoice_payload
from pm_xero_plugin.mapping.values import clip_text, plain_text
from pm_xero_plugin.sandbox.spec_check import validate_xero_request

CONTACT_ID = "2f9d8c1e-4b3a-4d2c-8e1f-6a5b4c3d2e1f"
HOSTILE = "\x07\x1b[2J\x00\x7f\x9b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""BEL, ESC (a terminal's clear screen), NUL, DEL, C1 CSI, every bidi embedding, override and
isolate."""
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never be in a payload's text (``\\n`` is checked field by field)."""


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def _client() -> dict[str, Any]:
    return {
        "id": "c-42",
        "number": 42,
        "location_id": "loc-syd",
        "first_name": f"Ja{HOSTILE}ne\tMary",
        "last_name": "Smi\u202eht\r\nJones\x07",
        "email": "jane@example.com",
        "phone": "0400\x07 000\x85000",  # C1 NEL: a line break too
        "address": {"line1": "1 Bark\u2066 St\nLevel 2", "city": "Syd\x1bney", "country": "AU"},
        "updated_at": "2025-03-01T09:00:00+11:00",
    }


def test_a_contacts_names_and_details_reach_xero_on_one_line_without_controls() -> None:
    payload = contact_payload(_client(), org_mapping())
    assert payload["Name"] == "Ja[2Jne Mary Smiht Jones (C42)"
    assert payload["FirstName"] == "Ja[2Jne Mary"
    assert payload["LastName"] == "Smiht Jones"
    assert payload["Phones"][0]["PhoneNumber"] == "0400 000 000"
    assert payload["Addresses"][0]["AddressLine1"] == "1 Bark St Level 2"
    assert payload["Addresses"][0]["City"] == "Sydney"
    for text in _texts(payload):
        assert not FORBIDDEN.search(text), text
        assert "\n" not in text, text


def test_a_line_description_keeps_its_lines_and_loses_its_controls() -> None:
    doc = invoice(
        line(description=f"Boarding\u202e 3 nights{HOSTILE}\r\nRoom 4\x07\rLate pick-up"),
        reference="Booking\n42\u202e",
    )
    payload = invoice_payload(doc, org_mapping(), contact_id=CONTACT_ID)
    assert payload["LineItems"][0]["Description"] == "Boarding 3 nights[2J\nRoom 4\nLate pick-up"
    assert payload["Reference"] == "Booking 42"
    for text in _texts(payload):
        assert not FORBIDDEN.search(text), text


def test_a_credit_notes_reason_is_one_line() -> None:
    doc = {**credit_note(line(description="Refund\x07")), "reason": "Stay\ncut\u2067 short"}
    payload = credit_note_payload(doc, org_mapping(), contact_id=CONTACT_ID)
    assert payload["Reference"] == "Stay cut short"
    assert payload["LineItems"][0]["Description"] == "Refund"


def test_text_that_is_only_controls_is_left_out_as_blank() -> None:
    assert clip_text(HOSTILE.replace("[2J", ""), 50) is None
    assert plain_text("naïve 日本 مرحبا") == "naïve 日本 مرحبا"  # letters of every script stay


@pytest.mark.usefixtures("xero_openapi_spec")
def test_cleaned_payloads_still_validate_against_xero_spec(xero_openapi_spec: OpenAPI) -> None:
    summarize = {"summarizeErrors": "false"}
    contact = contact_payload(_client(), org_mapping())
    validate_xero_request(xero_openapi_spec, "PUT", "/Contacts", {"Contacts": [contact]}, summarize)
    doc = invoice(line(description=f"Boarding{HOSTILE}\nRoom 4"), reference="a\nb")
    payload = invoice_payload(doc, org_mapping(), contact_id=CONTACT_ID)
    validate_xero_request(xero_openapi_spec, "PUT", "/Invoices", {"Invoices": [payload]}, summarize)
