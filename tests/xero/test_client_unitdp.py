"""Unit prices with up to 4 decimals reach Xero as they are: the client asks ``unitdp=4`` on a
request that carries one (Xero would round each ``UnitAmount`` to 2 places otherwise, and the
total it computes would miss the host's), and sends every other request as before."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.mapping_strategies import invoice, line, org_mapping
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import SPEC, Connected, contact

from pm_xero_plugin.mapping.documents import invoice_payload
from pm_xero_plugin.sandbox.spec_location import spec_missing_reason

pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_missing_reason())


def _sent(c: Connected, record: dict[str, object], key: str) -> dict[str, object]:
    [who] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", "Contacts", [contact(1, "Ann Lee (C1)")], idempotency_key="c"
    )
    assert who.xero_id is not None
    element = invoice_payload(record, org_mapping(), contact_id=who.xero_id)
    [made] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", "Invoices", [element], idempotency_key=key
    )
    assert made.ok, made.errors
    stored: dict[str, object] = c.sandbox.org(c.tenant_id).invoices[str(made.xero_id).lower()]
    return stored


def test_a_four_decimal_unit_price_is_sent_with_unitdp_4_and_xero_keeps_it(
    connected: Connected,
) -> None:
    c = connected
    priced = invoice(
        line(quantity="3", unit_price="0.3333", tax_rate="0"),
        line(quantity="1", unit_price="10.00"),
        total="12.00",  # 3 x 0.3333 = 0.9999 -> 1.00, plus 10.00 and its 1.00 GST
    )

    stored = _sent(c, priced, "i-4dp")

    [put] = [r for r in c.sandbox.requests if r["method"] == "PUT" and "Invoices" in r["path"]]
    assert "unitdp=4" in put["query"]
    lines = stored["LineItems"]
    assert isinstance(lines, list)
    assert Decimal(str(lines[0]["UnitAmount"])) == Decimal("0.3333")
    assert Decimal(str(lines[0]["LineAmount"])) == Decimal("1.00")
    assert Decimal(str(stored["Total"])) == Decimal("12.00")
    assert c.checked[-1] == "PUT /api.xro/2.0/Invoices"  # and it matched Xero's spec


def test_two_decimal_prices_are_sent_without_unitdp(connected: Connected) -> None:
    c = connected

    stored = _sent(c, invoice(), "i-2dp")

    [put] = [r for r in c.sandbox.requests if r["method"] == "PUT" and "Invoices" in r["path"]]
    assert "unitdp" not in put["query"]
    assert Decimal(str(stored["Total"])) == Decimal("11.00")
