"""Contacts: unique names with the customer number, and details Xero will accept."""

from __future__ import annotations

from typing import Any

import pytest
from support.mapping_strategies import TENANT, org_mapping, settings_dict

from pm_xero_plugin.mapping.config import MappingError, OrgMapping
from pm_xero_plugin.mapping.contacts import contact_name, contact_payload

CONTACT_ID = "2f9d8c1e-4b3a-4d2c-8e1f-6a5b4c3d2e1f"


def client(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "c-42",
        "number": 42,
        "location_id": "loc-syd",
        "first_name": "Jane",
        "last_name": "Smith",
        "email": "jane@example.com",
        "phone": "0400 000 000",
        "address": {"line1": "1 Bark St", "city": "Sydney", "postcode": "2000", "country": "AU"},
        "updated_at": "2025-03-01T09:00:00+11:00",
        **overrides,
    }


def test_name_is_made_unique_with_the_prefixed_number() -> None:
    payload = contact_payload(client(), org_mapping())
    assert payload["Name"] == "Jane Smith (C42)"
    assert payload["ContactNumber"] == "C42"
    assert (payload["FirstName"], payload["LastName"]) == ("Jane", "Smith")


def test_two_customers_with_one_name_get_distinct_xero_names() -> None:
    m = org_mapping()
    assert contact_name(client(), m) != contact_name(client(number=43), m)


def test_client_prefix_comes_from_the_settings() -> None:
    settings = settings_dict()
    settings["prefixes"]["client"] = "PM"
    m = OrgMapping.from_settings(settings, TENANT, "loc-syd")
    assert contact_payload(client(), m)["ContactNumber"] == "PM42"


def test_unicode_names_pass_through() -> None:
    payload = contact_payload(client(first_name="Zoë", last_name="Ōtaki-Müller"), org_mapping())
    assert payload["Name"] == "Zoë Ōtaki-Müller (C42)"


def test_a_missing_name_still_gives_a_unique_contact() -> None:
    payload = contact_payload(client(first_name="", last_name="  "), org_mapping())
    assert payload["Name"] == "Customer (C42)"
    assert "FirstName" not in payload
    assert "LastName" not in payload


def test_long_names_are_cut_but_keep_the_number() -> None:
    name = contact_name(client(first_name="A" * 200, last_name="B" * 200), org_mapping())
    assert len(name) == 255
    assert name.endswith(" (C42)")


def test_details_become_xero_email_phone_and_postal_address() -> None:
    payload = contact_payload(client(), org_mapping())
    assert payload["EmailAddress"] == "jane@example.com"
    assert payload["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "0400 000 000"}]
    assert payload["Addresses"] == [
        {
            "AddressType": "POBOX",
            "AddressLine1": "1 Bark St",
            "City": "Sydney",
            "PostalCode": "2000",
            "Country": "AU",
        }
    ]


@pytest.mark.parametrize("email", ["not an email", "jürgen@example.com", "a@b", None, ""])
def test_an_email_xero_would_refuse_is_left_out(email: str | None) -> None:
    assert "EmailAddress" not in contact_payload(client(email=email), org_mapping())


def test_absent_details_are_left_out_not_sent_as_null() -> None:
    payload = contact_payload(client(email=None, phone=None, address=None), org_mapping())
    assert set(payload) == {"ContactNumber", "Name", "FirstName", "LastName"}


def test_update_carries_the_contact_id() -> None:
    payload = contact_payload(client(), org_mapping(), contact_id=CONTACT_ID)
    assert payload["ContactID"] == CONTACT_ID


def test_a_client_without_a_number_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        contact_payload(client(number=None), org_mapping())
    assert caught.value.field == "number"
