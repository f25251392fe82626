"""Xero's official Python SDK, pointed at the sandbox, round-trips every document the plugin writes.

If the sandbox's shapes drifted from Xero's, the SDK's deserialisers would fail here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from support.sandbox_helpers import connect
from xero_python.accounting import (
    Account,
    AccountingApi,
    Allocation,
    Allocations,
    Contact,
    Contacts,
    CreditNote,
    CreditNotes,
    Invoice,
    Invoices,
    LineItem,
    Payment,
    Payments,
)
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import AccountingBadRequestException

from pm_xero_plugin.sandbox import Sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def sdk(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    with sandbox.serve(port=0) as server, httpx.Client(base_url=server.url) as http:
        tokens = connect(http)
        token = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "Bearer",
            "expires_in": 1800,
            "scope": ["offline_access", "accounting.transactions", "accounting.contacts"],
        }
        api_client = ApiClient(
            Configuration(
                oauth2_token=OAuth2Token(client_id="sandbox-client", client_secret="sandbox-secret")
            ),
            pool_threads=1,
        )
        store = {"token": token}
        api_client.oauth2_token_getter(lambda: store["token"])
        api_client.oauth2_token_saver(lambda t: store.update(token=t))
        yield AccountingApi(api_client, base_url=server.url + "/api.xro/2.0"), tokens.tenant_ids[0]


def test_sdk_creates_and_reads_back_contacts_invoices_credit_notes_allocations_and_payments(  # type: ignore[no-untyped-def]
    sdk,
) -> None:
    api, tenant = sdk
    contacts = api.create_contacts(
        tenant,
        Contacts(
            contacts=[
                Contact(name="Rex Owner", contact_number="PM-C-1", email_address="r@example.com")
            ]
        ),
    )
    contact = contacts.contacts[0]
    assert contact.contact_id
    assert contact.name == "Rex Owner"

    line = LineItem(
        description="Boarding 2 nights", quantity=2, unit_amount=55.0, account_code="201"
    )
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=contact.contact_id),
        line_items=[line],
        date=date(2024, 3, 1),
        due_date=date(2024, 3, 15),
        invoice_number="PM-INV-1",
        reference="booking 7",
        status="AUTHORISED",
    )
    created = api.create_invoices(
        tenant, Invoices(invoices=[invoice]), summarize_errors=False
    ).invoices[0]
    assert created.status_attribute_string == "OK"
    assert created.total == pytest.approx(121.0)  # 110 + 10% GST
    assert created.date == date(2024, 3, 1)

    credit = CreditNote(
        type="ACCRECCREDIT",
        contact=Contact(contact_id=contact.contact_id),
        line_items=[
            LineItem(description="Refund", quantity=1, unit_amount=10.0, account_code="201")
        ],
        date=date(2024, 3, 2),
        credit_note_number="PM-CN-1",
        status="AUTHORISED",
    )
    cn = api.create_credit_notes(
        tenant, CreditNotes(credit_notes=[credit]), summarize_errors=False
    ).credit_notes[0]
    assert cn.remaining_credit == pytest.approx(11.0)
    allocation = Allocation(
        invoice=Invoice(invoice_id=created.invoice_id), amount=11.0, date=date(2024, 3, 2)
    )
    api.create_credit_note_allocation(
        tenant, cn.credit_note_id, Allocations(allocations=[allocation])
    )

    payment = Payment(
        invoice=Invoice(invoice_id=created.invoice_id),
        account=Account(code="090"),
        amount=110.0,
        date=date(2024, 3, 3),
        reference="PM-P-1",
    )
    paid = api.create_payments(tenant, Payments(payments=[payment])).payments[0]
    assert paid.amount == pytest.approx(110.0)

    again = api.get_invoice(tenant, created.invoice_id).invoices[0]
    assert again.status == "PAID"
    assert Decimal(str(again.amount_due)) == 0
    assert again.amount_credited == pytest.approx(11.0)
    assert (
        api.get_payments(tenant, where='Reference=="PM-P-1"').payments[0].payment_id
        == paid.payment_id
    )
    assert api.get_credit_note(tenant, cn.credit_note_id).credit_notes[0].status == "PAID"
    assert (
        api.get_contacts(tenant, i_ds=[contact.contact_id]).contacts[0].contact_number == "PM-C-1"
    )
    assert api.get_accounts(tenant).accounts
    assert api.get_tax_rates(tenant).tax_rates
    assert api.get_organisations(tenant).organisations[0].name == "Sandbox Pets Ltd 1"


def test_sdk_sees_xero_validation_errors_as_bad_request(sdk) -> None:  # type: ignore[no-untyped-def]
    api, tenant = sdk
    contact = api.create_contacts(tenant, Contacts(contacts=[Contact(name="Dup")])).contacts[0]
    inv = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=contact.contact_id),
        line_items=[LineItem(description="x", quantity=1, unit_amount=5.0, account_code="206")],
        invoice_number="PM-INV-9",
    )
    with pytest.raises(AccountingBadRequestException) as err:
        api.create_invoices(tenant, Invoices(invoices=[inv]))
    assert "has been archived" in str(err.value.body)
