"""Every kind of payload we send validates against Xero's official OpenAPI spec.

Each payload function is driven by generated host records (many lines, discounts, the three
line-amount kinds, zero-tax lines, unicode, split payments, overpayments) and the result, wrapped
as the endpoint expects, goes through ``validate_xero_request`` – openapi-core plus the strict
unknown-field pass. The negative tests prove the check catches what it must.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from support.mapping_strategies import clients, credit_notes, invoices, mappings, payments, uuids
from support.money_flow_strategies import (
    deposits,
    money_flow_mapping,
    money_flow_mappings,
    payout,
    payouts,
    refunds,
)

from pm_xero_plugin.mapping import contacts, documents
from pm_xero_plugin.mapping import deposits as deposit_payloads
from pm_xero_plugin.mapping import payments as payment_payloads
from pm_xero_plugin.mapping import payouts as payout_payloads
from pm_xero_plugin.mapping import refunds as refund_payloads
from pm_xero_plugin.mapping.contacts import contact_payload
from pm_xero_plugin.mapping.deposits import deposit_allocation_payload, deposit_payload
from pm_xero_plugin.mapping.documents import (
    credit_note_allocation_payload,
    credit_note_payload,
    invoice_payload,
    void_invoice_payload,
)
from pm_xero_plugin.mapping.payments import (
    overpayment_payload,
    payment_payload,
)
from pm_xero_plugin.mapping.payouts import payout_fee_payload, payout_transfer_payload
from pm_xero_plugin.mapping.refunds import refund_payload, refund_source
from pm_xero_plugin.sandbox.spec_check import (
    SpecViolation,
    validate_httpx_request,
    validate_xero_request,
)

SUMMARIZE = {"summarizeErrors": "false"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any]
    query: dict[str, str]


@dataclass(frozen=True)
class Kind:
    """One kind of request: the payload function it exercises and how to draw one."""

    name: str
    function: Callable[..., dict[str, Any]]
    draw: Callable[[st.DrawFn], Request]


def _contacts_create(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    batch = [contact_payload(c, m) for c in draw(st.lists(clients, min_size=1, max_size=3))]
    return Request("PUT", "/Contacts", {"Contacts": batch}, SUMMARIZE)


def _contacts_update(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    element = contact_payload(draw(clients), m, contact_id=draw(uuids))
    return Request("POST", "/Contacts", {"Contacts": [element]}, SUMMARIZE)


def _invoices_create(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    docs = draw(st.lists(invoices, min_size=1, max_size=3))
    batch = [invoice_payload(doc, m, contact_id=draw(uuids)) for doc in docs]
    return Request("PUT", "/Invoices", {"Invoices": batch}, SUMMARIZE)


def _invoices_update(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    element = invoice_payload(
        draw(invoices), m, contact_id=draw(uuids), xero_invoice_id=draw(uuids)
    )
    if draw(st.booleans()):
        return Request("POST", "/Invoices", {"Invoices": [element]}, SUMMARIZE)
    return Request("POST", f"/Invoices/{element['InvoiceID']}", {"Invoices": [element]}, {})


def _invoices_void(draw: st.DrawFn) -> Request:
    element = void_invoice_payload(draw(uuids), draw(st.integers(1, 10**7)), draw(mappings))
    return Request("POST", "/Invoices", {"Invoices": [element]}, SUMMARIZE)


def _credit_notes(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    batch = [
        credit_note_payload(doc, m, contact_id=draw(uuids))
        for doc in draw(st.lists(credit_notes, min_size=1, max_size=3))
    ]
    return Request("PUT", "/CreditNotes", {"CreditNotes": batch}, SUMMARIZE)


def _credit_note_allocation(draw: st.DrawFn) -> Request:
    note = draw(credit_notes)
    if Decimal(note["total"]) <= 0:
        note = {**note, "total": "1.00"}
    amount = draw(st.one_of(st.none(), st.decimals(Decimal("0.01"), Decimal("900"), places=2)))
    element = credit_note_allocation_payload(note, invoice_id=draw(uuids), amount=amount)
    path = f"/CreditNotes/{draw(uuids)}/Allocations"
    return Request("PUT", path, {"Allocations": [element]}, SUMMARIZE)


def _payments(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    payment = draw(payments())
    batch = [
        payment_payload(payment, allocation, m, invoice_id=allocation["invoice_id"])
        for allocation in payment["allocations"]
    ]
    return Request("PUT", "/Payments", {"Payments": batch}, SUMMARIZE)


def _overpayment(draw: st.DrawFn) -> Request:
    m = draw(mappings)
    element = overpayment_payload(draw(payments(min_excess="0.01")), m, contact_id=draw(uuids))
    return Request("PUT", "/BankTransactions", {"BankTransactions": [element]}, SUMMARIZE)


def _deposit(draw: st.DrawFn) -> Request:
    m = draw(money_flow_mappings)
    batch = [
        deposit_payload(one, m, contact_id=draw(uuids))
        for one in draw(st.lists(deposits(), min_size=1, max_size=3))
    ]
    return Request("PUT", "/BankTransactions", {"BankTransactions": batch}, SUMMARIZE)


def _deposit_allocation(draw: st.DrawFn) -> Request:
    held = draw(deposits())
    if not held["allocations"]:
        held = {**held, "allocations": [{"invoice_id": draw(uuids), "amount": held["amount"]}]}
    element = deposit_allocation_payload(
        held,
        draw(st.sampled_from(held["allocations"])),
        invoice_id=draw(uuids),
        invoice_date=draw(st.dates()).isoformat(),
    )
    path = f"/Prepayments/{draw(uuids)}/Allocations"
    return Request("PUT", path, {"Allocations": [element]}, SUMMARIZE)


def _refunds(source: str | None) -> Callable[[st.DrawFn], Request]:
    """Refunds out of ``source`` (a credit note, an overpayment, a deposit), or of any."""

    def draw_refunds(draw: st.DrawFn) -> Request:
        m = draw(money_flow_mappings)
        batch = []
        for one in draw(st.lists(refunds(source), min_size=1, max_size=3)):
            kind, _ = refund_source(one)
            batch.append(refund_payload(one, m, source_kind=kind, source_xero_id=draw(uuids)))
        return Request("PUT", "/Payments", {"Payments": batch}, SUMMARIZE)

    return draw_refunds


def _payout_transfer(draw: st.DrawFn) -> Request:
    m = draw(money_flow_mappings)
    batch = [
        payout_transfer_payload(one, m) for one in draw(st.lists(payouts(), min_size=1, max_size=3))
    ]
    return Request("PUT", "/BankTransfers", {"BankTransfers": batch}, {})


def _payout_fee(draw: st.DrawFn) -> Request:
    m = draw(money_flow_mappings)
    element = payout_fee_payload(draw(payouts(min_fees="0.01")), m)
    return Request("PUT", "/BankTransactions", {"BankTransactions": [element]}, SUMMARIZE)


KINDS = [
    Kind("contact create", contact_payload, _contacts_create),
    Kind("contact update", contact_payload, _contacts_update),
    Kind("invoice create", invoice_payload, _invoices_create),
    Kind("invoice update", invoice_payload, _invoices_update),
    Kind("invoice void", void_invoice_payload, _invoices_void),
    Kind("credit note", credit_note_payload, _credit_notes),
    Kind("credit note allocation", credit_note_allocation_payload, _credit_note_allocation),
    Kind("payment", payment_payload, _payments),
    Kind("overpayment", overpayment_payload, _overpayment),
    Kind("deposit (prepayment)", deposit_payload, _deposit),
    Kind("deposit allocation", deposit_allocation_payload, _deposit_allocation),
    Kind("refund of a credit note", refund_payload, _refunds("credit_note")),
    Kind("refund of an overpayment", refund_payload, _refunds("overpayment")),
    Kind("refund of a deposit", refund_payload, _refunds("deposit")),
    Kind("refunds of any credit", refund_payload, _refunds(None)),
    Kind("payout transfer", payout_transfer_payload, _payout_transfer),
    Kind("payout fees", payout_fee_payload, _payout_fee),
]


def test_every_payload_function_has_a_spec_test() -> None:
    """A new ``*_payload`` function cannot escape the spec check."""
    exported = {
        name
        for module in (
            contacts,
            documents,
            payment_payloads,
            deposit_payloads,
            refund_payloads,
            payout_payloads,
        )
        for name in module.__all__
        if name.endswith("_payload")
    }
    covered = {kind.function.__name__ for kind in KINDS}
    assert exported == covered


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_payload_validates_against_xero_spec(
    xero_openapi_spec: OpenAPI, kind: Kind, data: st.DataObject
) -> None:
    request = data.draw(st.composite(lambda draw: kind.draw(draw))())
    validate_xero_request(
        xero_openapi_spec, request.method, request.path, request.body, request.query
    )


# --- the check itself must catch a bad payload -------------------------------------------------

_CONTACT = "2f9d8c1e-4b3a-4d2c-8e1f-6a5b4c3d2e1f"
_INVOICE = {
    "id": "inv-1",
    "number": 121,
    "location_id": "loc-syd",
    "client_id": "c-1",
    "date": "2025-03-01",
    "due_date": "2025-03-15",
    "currency": "AUD",
    "line_amount_types": "exclusive",
    "status": "open",
    "lines": [
        {"description": "Boarding", "category": "boarding", "quantity": "2", "unit_price": "50.00"}
    ],
    "total": "100.00",
    "updated_at": "2025-03-01T09:00:00+11:00",
}


def _good_invoices() -> dict[str, Any]:
    from support.mapping_strategies import org_mapping

    return {"Invoices": [invoice_payload(_INVOICE, org_mapping(), contact_id=_CONTACT)]}


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


BAD_INVOICES = {
    "amount as a string": _set(["Invoices", 0, "LineItems", 0, "UnitAmount"], "50.00"),
    "unknown type": _set(["Invoices", 0, "Type"], "SALE"),
    "contact id not a uuid": _set(["Invoices", 0, "Contact", "ContactID"], "c-1"),
    "unknown currency": _set(["Invoices", 0, "CurrencyCode"], "XXX"),
    "read-only total sent": _set(["Invoices", 0, "Total"], 100.0),
    "misspelt field": _set(["Invoices", 0, "InvoiceNumbr"], "INV121"),
    "misspelt nested field": _set(["Invoices", 0, "LineItems", 0, "Acount"], "200"),
    "Decimal left in payload": _set(["Invoices", 0, "LineItems", 0, "Quantity"], Decimal(2)),
    "lines not a list": _set(["Invoices", 0, "LineItems"], {"Description": "x"}),
}


@pytest.mark.parametrize("mutate", BAD_INVOICES.values(), ids=BAD_INVOICES.keys())
def test_spec_check_refuses_a_broken_invoice(
    xero_openapi_spec: OpenAPI, mutate: Callable[[dict[str, Any]], None]
) -> None:
    body = _good_invoices()
    validate_xero_request(xero_openapi_spec, "PUT", "/Invoices", body, SUMMARIZE)
    broken = copy.deepcopy(body)
    mutate(broken)
    with pytest.raises(SpecViolation):
        validate_xero_request(xero_openapi_spec, "PUT", "/Invoices", broken, SUMMARIZE)


def test_spec_check_refuses_missing_required_fields(xero_openapi_spec: OpenAPI) -> None:
    allocation = credit_note_allocation_payload(
        {"number": 7, "total": "10.00", "date": "2025-03-01"}, invoice_id=_CONTACT
    )
    path = f"/CreditNotes/{_CONTACT}/Allocations"
    validate_xero_request(xero_openapi_spec, "PUT", path, {"Allocations": [allocation]})
    del allocation["Date"]
    with pytest.raises(SpecViolation, match="'Date' is a required property"):
        validate_xero_request(xero_openapi_spec, "PUT", path, {"Allocations": [allocation]})
    with pytest.raises(SpecViolation, match="'Status' is a required property"):
        validate_xero_request(xero_openapi_spec, "POST", f"/Payments/{_CONTACT}", {})


def test_spec_check_refuses_a_transfer_without_its_bank_or_with_a_read_only_id(
    xero_openapi_spec: OpenAPI,
) -> None:
    transfer = payout_transfer_payload(payout(), money_flow_mapping())
    validate_xero_request(xero_openapi_spec, "PUT", "/BankTransfers", {"BankTransfers": [transfer]})
    for broken, problem in (
        ({k: v for k, v in transfer.items() if k != "ToBankAccount"}, "'ToBankAccount' is a"),
        ({**transfer, "BankTransferID": _CONTACT}, "BankTransferID"),
        ({**transfer, "Amount": "487.70"}, "is not of type 'number'"),
    ):
        with pytest.raises(SpecViolation, match=problem):
            validate_xero_request(
                xero_openapi_spec, "PUT", "/BankTransfers", {"BankTransfers": [broken]}
            )


def test_spec_check_names_the_field_at_fault(xero_openapi_spec: OpenAPI) -> None:
    body = _good_invoices()
    body["Invoices"][0]["LineItems"][0]["UnitAmount"] = "50.00"
    with pytest.raises(SpecViolation) as caught:
        validate_xero_request(xero_openapi_spec, "PUT", "/Invoices", body, SUMMARIZE)
    assert caught.value.problems == [
        "Invoices/0/LineItems/0/UnitAmount: '50.00' is not of type 'number'"
    ]


def test_spec_check_refuses_a_bad_query_or_path_parameter(xero_openapi_spec: OpenAPI) -> None:
    with pytest.raises(SpecViolation, match="summarizeErrors"):
        validate_xero_request(
            xero_openapi_spec, "PUT", "/Invoices", _good_invoices(), {"summarizeErrors": "maybe"}
        )
    with pytest.raises(SpecViolation, match="PaymentID"):
        validate_xero_request(xero_openapi_spec, "POST", "/Payments/PAY12", {"Status": "DELETED"})


def test_spec_check_reads_sandbox_urls_with_their_query(xero_openapi_spec: OpenAPI) -> None:
    """The client's requests go to the sandbox in tests; the check rewrites them to Xero's."""
    url = "http://127.0.0.1:8765/api.xro/2.0/Invoices?summarizeErrors=false"
    validate_xero_request(xero_openapi_spec, "put", url, _good_invoices())
    with pytest.raises(SpecViolation, match="summarizeErrors"):
        validate_xero_request(
            xero_openapi_spec, "PUT", url.replace("false", "sometimes"), _good_invoices()
        )


def test_spec_check_reads_an_httpx_request_as_the_client_sends_it(
    xero_openapi_spec: OpenAPI,
) -> None:
    headers = {"xero-tenant-id": _CONTACT, "Idempotency-Key": "invoice:inv-1:1"}
    url = "http://127.0.0.1:8765/api.xro/2.0/Invoices?summarizeErrors=false"
    good = httpx.Request("PUT", url, json=_good_invoices(), headers=headers)
    validate_httpx_request(xero_openapi_spec, good)
    lookup = httpx.Request("GET", url.split("?")[0], params={"InvoiceNumbers": "INV121"})
    validate_httpx_request(xero_openapi_spec, lookup)
    body = _good_invoices()
    body["Invoices"][0]["Type"] = "SALE"
    bad = httpx.Request("PUT", url, json=body, headers=headers)
    with pytest.raises(SpecViolation, match="Invoices/0/Type"):
        validate_httpx_request(xero_openapi_spec, bad)
