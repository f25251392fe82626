"""Host customers → Xero contacts (pure).

A contact's name carries its number (``Jane Smith (C42)``): Xero refuses two active contacts with
one name, and two customers may well share one. What Xero would refuse in a contact (an email
that is no address, a phone too long) is left out rather than blocking the customer and every
document of theirs. Control characters and bidirectional overrides never reach Xero (see
:func:`~pm_xero_plugin.mapping.values.plain_text`): every field of a contact is one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pm_xero_plugin.mapping.config import OrgMapping
from pm_xero_plugin.mapping.schemas import ContactPayloadSchema
from pm_xero_plugin.mapping.values import clip_text, plain_text, xero_number

__all__ = ["contact_name", "contact_payload"]

_MAX_NAME = 255
_MAX_PHONE = 50
_ADDRESS_PARTS = (  # (payload key, host key, Xero's max length)
    ("address_line1", "line1", 500),
    ("address_line2", "line2", 500),
    ("city", "city", 255),
    ("region", "region", 255),
    ("postal_code", "postcode", 50),
    ("country", "country", 50),
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def contact_name(client: Mapping[str, Any], m: OrgMapping) -> str:
    """``Jane Smith (C42)``: Xero refuses two active contacts with one name, so the number is
    part of it (and the name is cut, never the number, to fit Xero's 255 characters)."""
    suffix = f" ({xero_number(m.prefixes.client, client.get('number'))})"
    parts = [plain_text(client.get(key) or "").strip() for key in ("first_name", "last_name")]
    core = " ".join(part for part in parts if part) or "Customer"
    return core[: _MAX_NAME - len(suffix)].rstrip() + suffix


def contact_payload(
    client: Mapping[str, Any], m: OrgMapping, *, contact_id: str | None = None
) -> dict[str, Any]:
    """An element of ``PUT /Contacts`` (create) or, with ``contact_id``, ``POST /Contacts``.

    An email Xero would refuse (not an address, non-ASCII) is left out rather than blocking the
    contact – and every document of that customer with it; a phone longer than Xero's 50
    characters likewise.
    """
    number = xero_number(m.prefixes.client, client.get("number"))
    email = clip_text(client.get("email"), _MAX_NAME)
    if email and not (email.isascii() and _EMAIL.match(email)):
        email = None
    phone = plain_text(client.get("phone") or "").strip()
    phones = (
        [{"phone_type": "DEFAULT", "phone_number": phone}]
        if phone and len(phone) <= _MAX_PHONE
        else None
    )
    raw_address = client.get("address") or {}
    address = {
        key: clip_text(raw_address.get(source), limit) for key, source, limit in _ADDRESS_PARTS
    }
    addresses = (
        [{"address_type": "POBOX", **address}]
        if any(value is not None for value in address.values())
        else None
    )
    data = {
        "contact_id": contact_id,
        "contact_number": number,
        "name": contact_name(client, m),
        "first_name": clip_text(client.get("first_name"), _MAX_NAME),
        "last_name": clip_text(client.get("last_name"), _MAX_NAME),
        "email_address": email,
        "phones": phones,
        "addresses": addresses,
    }
    payload: dict[str, Any] = ContactPayloadSchema().dump(data)
    return payload
