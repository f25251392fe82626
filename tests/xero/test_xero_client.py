"""The Accounting client against scripted answers: batches, errors, retries, limits, look-ups."""

from __future__ import annotations

import logging
import random
from typing import Any

import httpx
import pytest
from support.virtual_time import VirtualTime
from support.xero_client_fakes import (
    CONN,
    OTHER_TENANT,
    TENANT,
    FakeTokens,
    Script,
    xero_json,
)

from pm_xero_plugin.xero.client import ElementResult, XeroAccountsSource, XeroClient
from pm_xero_plugin.xero.errors import (
    NotFound,
    OutcomeUnknown,
    RateLimited,
    ReconnectRequired,
    TransientError,
    ValidationFailed,
)
from pm_xero_plugin.xero.ratelimit import RateLimiter

BASE = "https://api.xero.com/api.xro/2.0"
INV_ID = "11111111-2222-3333-4444-555555555555"


def make_client(
    script: Script,
    clock: VirtualTime,
    limiter: RateLimiter,
    tokens: FakeTokens | None = None,
    **kwargs: Any,
) -> XeroClient:
    return XeroClient(
        BASE,
        tokens or FakeTokens(),
        limiter=limiter,
        transport=script.transport(),
        clock=clock,
        rng=random.Random(3),
        **kwargs,
    )


def invoice(number: str) -> dict[str, Any]:
    return {"Type": "ACCREC", "InvoiceNumber": number, "Contact": {"ContactID": "c-1"}}


def ok_invoices(*numbers: str) -> httpx.Response:
    return xero_json(
        200,
        {
            "Invoices": [
                {"InvoiceID": f"id-{n}", "InvoiceNumber": n, "StatusAttributeString": "OK"}
                for n in numbers
            ]
        },
    )


def send(client: XeroClient, *numbers: str, key: str = "batch-1") -> list[ElementResult]:
    return client.send_batch(
        TENANT, CONN, "PUT", "Invoices", [invoice(n) for n in numbers], idempotency_key=key
    )


# -- batches and per-element results ----------------------------------------------------------


def test_one_bad_element_fails_only_its_row_with_xeros_messages(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            200,
            {
                "Invoices": [
                    {"InvoiceID": "id-1", "StatusAttributeString": "OK"},
                    {
                        "InvoiceID": "00000000-0000-0000-0000-000000000000",
                        "StatusAttributeString": "ERROR",
                        "HasErrors": True,
                        "ValidationErrors": [
                            {"Message": "Invoice # must be unique."},
                            {"Message": "Account code '9' is not a valid code for this document."},
                        ],
                    },
                    {
                        "InvoiceID": "id-3",
                        "StatusAttributeString": "WARNING",
                        "Warnings": [{"Message": "Rounding applied"}],
                    },
                ]
            },
        )
    )
    results = send(make_client(script, clock, limiter), "INV1", "INV2", "INV3")
    assert [(r.index, r.ok, r.xero_id) for r in results] == [
        (0, True, "id-1"),
        (1, False, None),
        (2, True, "id-3"),
    ]
    assert results[1].errors == [
        "Invoice # must be unique.",
        "Account code '9' is not a valid code for this document.",
    ]
    assert results[2].warnings == ["Rounding applied"]


def test_a_batch_request_carries_everything_xero_needs(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(ok_invoices("INV1"))
    send(make_client(script, clock, limiter), "INV1", key="key-abc")
    request = script.requests[0]
    assert request.method == "PUT"
    assert request.url.path == "/api.xro/2.0/Invoices"
    assert request.url.params["summarizeErrors"] == "false"
    assert request.headers["Idempotency-Key"] == "key-abc"
    assert request.headers["xero-tenant-id"] == TENANT
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["Accept"] == "application/json"
    assert script.bodies()[0] == {"Invoices": [invoice("INV1")]}


def test_more_than_fifty_elements_are_refused_before_sending(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script()
    with pytest.raises(ValueError, match=r"1 to 50 elements, not 51"):
        send(make_client(script, clock, limiter), *[f"INV{i}" for i in range(51)])
    assert script.requests == []


def test_only_put_and_post_batches_and_only_credit_allocations_are_accepted(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script()
    client = make_client(script, clock, limiter)
    with pytest.raises(ValueError, match=r"PUT \(create\) or POST"):
        client.send_batch(TENANT, CONN, "DELETE", "Invoices", [invoice("I1")], idempotency_key="k")
    with pytest.raises(
        ValueError,
        match=r"allocations are made from CreditNotes, Overpayments or Prepayments, not Invoices",
    ):
        client.allocate(TENANT, CONN, "Invoices", "x", [{"Amount": 1}], idempotency_key="k")
    assert script.requests == []


def test_overpayment_results_carry_the_overpayment_id(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            200,
            {"BankTransactions": [{"BankTransactionID": "bt-1", "OverpaymentID": "op-1"}]},
        )
    )
    client = make_client(script, clock, limiter)
    results = client.send_batch(
        TENANT,
        CONN,
        "PUT",
        "BankTransactions",
        [{"Type": "RECEIVE-OVERPAYMENT"}],
        idempotency_key="k",
    )
    assert results[0].xero_id == "op-1"


def test_allocations_go_to_the_documents_allocations_endpoint(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(xero_json(200, {"Allocations": [{"Amount": 10.0, "AllocationID": "al-1"}]}))
    client = make_client(script, clock, limiter)
    allocation = {"Invoice": {"InvoiceID": INV_ID}, "Amount": "10.00", "Date": "2025-03-01"}
    results = client.allocate(
        TENANT, CONN, "CreditNotes", "cn-1", [allocation], idempotency_key="alloc-1"
    )
    assert results[0].ok
    assert results[0].xero_id == "al-1"
    assert script.requests[0].url.path.endswith("/CreditNotes/cn-1/Allocations")
    assert script.bodies()[0] == {"Allocations": [allocation]}


def test_a_summarised_400_raises_validation_failed_with_every_message(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            400,
            {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [
                    {"ValidationErrors": [{"Message": "Email address must be valid."}]},
                    {"ValidationErrors": [{"Message": "Name is required."}]},
                ],
            },
        )
    )
    with pytest.raises(ValidationFailed) as caught:
        send(make_client(script, clock, limiter), "INV1")
    assert caught.value.message == "A validation exception occurred"
    assert caught.value.errors == ["Email address must be valid.", "Name is required."]
    assert len(script.requests) == 1


def test_404_is_not_found(clock: VirtualTime, limiter: RateLimiter) -> None:
    script = Script(httpx.Response(404, text="The resource you're looking for cannot be found"))
    with pytest.raises(NotFound):
        make_client(script, clock, limiter).get(TENANT, CONN, "Invoices/x")


# -- retries and the idempotency key ----------------------------------------------------------


def test_server_errors_are_retried_with_the_same_key_and_jittered_capped_backoff(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(503, text="Service Unavailable"),
        ok_invoices("INV1"),
    )
    results = send(make_client(script, clock, limiter, backoff_cap=1.5), "INV1", key="same")
    assert results[0].ok
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["same"] * 4
    expected_rng = random.Random(3)
    ceilings = [0.5, 1.0, 1.5]  # base 0.5 doubling, capped at 1.5
    assert clock.sleeps == [pytest.approx(expected_rng.uniform(0, c)) for c in ceilings]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_non_json_503_bodies_become_transient_errors_with_the_text(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(*[httpx.Response(503, text="Organisation offline") for _ in range(2)])
    with pytest.raises(TransientError) as caught:
        send(make_client(script, clock, limiter, max_attempts=2), "INV1")
    assert caught.value.message == "Organisation offline"
    assert caught.value.status == 503
    assert len(script.requests) == 2


def test_a_long_retry_after_on_503_is_left_to_the_worker(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.Response(503, text="Not Available", headers={"Retry-After": "120"}))
    with pytest.raises(TransientError) as caught:
        send(make_client(script, clock, limiter), "INV1")
    assert caught.value.retry_after == 120.0
    assert clock.sleeps == []


def test_connect_errors_are_retried(clock: VirtualTime, limiter: RateLimiter) -> None:
    script = Script(httpx.ConnectError("connection refused"), ok_invoices("INV1"))
    assert send(make_client(script, clock, limiter), "INV1")[0].ok
    assert len(script.requests) == 2


def test_a_write_timeout_after_send_is_retried_with_the_same_key_inside_the_window(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.ReadTimeout("read timed out"), ok_invoices("INV1"))
    assert send(make_client(script, clock, limiter), "INV1", key="k-1")[0].ok
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k-1", "k-1"]


def test_a_write_timeout_with_attempts_exhausted_is_outcome_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(*[httpx.ReadTimeout("read timed out") for _ in range(3)])
    with pytest.raises(OutcomeUnknown) as caught:
        send(make_client(script, clock, limiter, max_attempts=3), "INV1", key="k-2")
    assert caught.value.idempotency_key == "k-2"
    assert caught.value.tenant_id == TENANT


def test_an_unknown_outcome_is_not_resent_once_xero_may_have_forgotten_the_key(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    def slow_timeout(request: httpx.Request) -> httpx.Response:
        clock.advance(300.0)  # the answer never came, and 5 minutes have passed
        raise httpx.ReadTimeout("read timed out", request=request)

    script = Script(slow_timeout)
    with pytest.raises(OutcomeUnknown):
        send(make_client(script, clock, limiter), "INV1")
    assert len(script.requests) == 1


def test_a_gateway_error_then_503s_on_a_write_is_outcome_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.Response(504, text="Gateway Timeout"), httpx.Response(503, text="x"))
    with pytest.raises(OutcomeUnknown):
        send(make_client(script, clock, limiter, max_attempts=2), "INV1")


def test_a_403_on_the_retry_of_an_unknown_outcome_stays_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.ReadTimeout("slow"), xero_json(403, {"detail": "Forbidden"}))
    with pytest.raises(OutcomeUnknown):
        send(make_client(script, clock, limiter), "INV1")


def test_a_token_failure_before_the_retry_of_an_unknown_outcome_stays_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    class FlakyTokens(FakeTokens):
        calls = 0

        def access_token(self, connection_key: str) -> str:
            self.calls += 1
            if self.calls > 1:
                raise TransientError("Xero token endpoint timed out")
            return super().access_token(connection_key)

    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(OutcomeUnknown):
        send(make_client(script, clock, limiter, FlakyTokens()), "INV1")


def test_a_400_on_the_same_key_retry_is_xeros_real_answer(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.ReadTimeout("slow"), xero_json(400, {"Message": "Bad request"}))
    with pytest.raises(ValidationFailed):
        send(make_client(script, clock, limiter), "INV1")


def test_an_unreadable_success_to_a_write_is_outcome_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        httpx.Response(200, text="<html>ok</html>", headers={"Content-Type": "text/html"}),
        xero_json(200, {"Invoices": []}),
    )
    client = make_client(script, clock, limiter)
    with pytest.raises(OutcomeUnknown):
        send(client, "INV1")
    with pytest.raises(OutcomeUnknown):  # 0 results for 1 element sent
        send(client, "INV1")


def test_a_success_whose_element_is_not_the_shape_xero_documents_is_outcome_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    # Read by the response schemas: a date that is no date means we cannot tell what Xero did.
    script = Script(xero_json(200, {"Invoices": [{"InvoiceID": "i-1", "Date": "yesterday"}]}))
    with pytest.raises(OutcomeUnknown, match="not the shape Xero documents"):
        send(make_client(script, clock, limiter), "INV1")


def test_an_element_marked_has_errors_fails_even_without_a_message(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            200,
            {
                "Invoices": [
                    {"InvoiceID": "i-1", "HasErrors": True, "ValidationErrors": [{"Message": ""}]},
                    {"InvoiceID": "00000000-0000-0000-0000-000000000000"},
                ]
            },
        )
    )
    refused, zero = send(make_client(script, clock, limiter), "INV1", "INV2")
    assert not refused.ok
    assert refused.xero_id is None
    assert refused.errors == ["Xero rejected this element without a message"]
    assert zero.ok
    assert zero.xero_id is None  # the zero GUID is no document


def test_a_read_timeout_on_a_read_is_only_transient(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError):
        make_client(script, clock, limiter, max_attempts=2).accounts(TENANT, CONN)


def test_a_429_on_the_retry_of_an_unknown_outcome_stays_unknown(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        httpx.ReadTimeout("slow"),
        xero_json(429, {}, **{"Retry-After": "30", "X-Rate-Limit-Problem": "minute"}),
    )
    with pytest.raises(OutcomeUnknown):
        send(make_client(script, clock, limiter), "INV1")


def test_default_timeouts_are_explicit() -> None:
    client = XeroClient(BASE, FakeTokens(), limiter=RateLimiter())
    request = client._http.build_request("GET", BASE)
    assert request.extensions["timeout"] == {
        "connect": 5.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 5.0,
    }


# -- authentication -----------------------------------------------------------------------------


def test_a_401_refreshes_once_and_retries_with_the_new_token(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    tokens = FakeTokens()
    script = Script(
        xero_json(401, {"title": "Unauthorized", "status": 401, "detail": "TokenExpired"}),
        ok_invoices("INV1"),
    )
    assert send(make_client(script, clock, limiter, tokens), "INV1", key="k")[0].ok
    assert tokens.invalidations == ["tok-1"]
    assert [r.headers["Authorization"] for r in script.requests] == ["Bearer tok-1", "Bearer tok-2"]
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k", "k"]


def test_token_expired_again_after_a_refresh_is_transient_not_a_reconnect(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    tokens = FakeTokens()
    expired = {"title": "Unauthorized", "status": 401, "detail": "TokenExpired: token expired"}
    script = Script(xero_json(401, expired), xero_json(401, expired))
    with pytest.raises(TransientError):
        send(make_client(script, clock, limiter, tokens), "INV1")
    assert len(tokens.invalidations) == 1


def test_a_second_401_means_reconnect(clock: VirtualTime, limiter: RateLimiter) -> None:
    tokens = FakeTokens()
    unauthorized = {"title": "Unauthorized", "status": 401, "detail": "AuthenticationUnsuccessful"}
    script = Script(xero_json(401, unauthorized), xero_json(401, unauthorized))
    with pytest.raises(ReconnectRequired):
        send(make_client(script, clock, limiter, tokens), "INV1")
    assert len(tokens.invalidations) == 1


def test_a_403_means_reconnect_with_xeros_detail(clock: VirtualTime, limiter: RateLimiter) -> None:
    script = Script(
        xero_json(
            403, {"title": "Forbidden", "status": 403, "detail": "AuthenticationUnsuccessful"}
        )
    )
    with pytest.raises(ReconnectRequired) as caught:
        send(make_client(script, clock, limiter), "INV1")
    assert "AuthenticationUnsuccessful" in caught.value.message
    assert caught.value.tenant_id == TENANT
    assert len(script.requests) == 1


# -- rate limits --------------------------------------------------------------------------------


def test_a_429_raises_at_once_and_blocks_only_that_tenant(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            429,
            {"Title": "Too Many Requests"},
            **{"Retry-After": "42", "X-Rate-Limit-Problem": "minute"},
        ),
        ok_invoices("INV9"),
    )
    client = make_client(script, clock, limiter)
    with pytest.raises(RateLimited) as caught:
        send(client, "INV1")
    assert caught.value.retry_after == 42.0
    assert caught.value.problem == "minute"
    assert clock.sleeps == []
    assert limiter.blocked_until(TENANT) == pytest.approx(clock.now + 42.0)
    # Still blocked locally: no request leaves for this tenant…
    with pytest.raises(RateLimited) as again:
        send(client, "INV1")
    assert again.value.retry_after == pytest.approx(42.0)
    assert len(script.requests) == 1
    # …while another organisation goes straight through.
    results = client.send_batch(
        OTHER_TENANT, "loc-2", "PUT", "Invoices", [invoice("INV9")], idempotency_key="b"
    )
    assert results[0].ok


def test_every_call_takes_a_permit_and_reports_the_headers(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(200, {"Accounts": []}, **{"X-MinLimit-Remaining": "0"}),
    )
    client = make_client(script, clock, limiter)
    assert client.accounts(TENANT, CONN) == []
    with pytest.raises(RateLimited) as caught:
        client.tax_rates(TENANT, CONN)
    assert caught.value.problem == "local-minute"
    assert len(script.requests) == 1


# -- reads and dedupe look-ups ------------------------------------------------------------------


def test_get_all_pages_until_a_short_page(clock: VirtualTime, limiter: RateLimiter) -> None:
    page1 = [{"ContactID": f"c{i}"} for i in range(100)]
    page2 = [{"ContactID": "c100"}]
    script = Script(xero_json(200, {"Contacts": page1}), xero_json(200, {"Contacts": page2}))
    found = list(make_client(script, clock, limiter).get_all(TENANT, CONN, "Contacts"))
    assert len(found) == 101
    assert [r.url.params["page"] for r in script.requests] == ["1", "2"]


def test_invoice_look_up_uses_invoice_numbers_in_chunks_and_keeps_sales_invoices(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    numbers = [f"INV{i}" for i in range(45)]
    script = Script(
        xero_json(
            200,
            {
                "Invoices": [
                    {"InvoiceNumber": "INV3", "Type": "ACCREC", "InvoiceID": "a"},
                    {"InvoiceNumber": "INV4", "Type": "ACCPAY", "InvoiceID": "bill"},
                ]
            },
        ),
        xero_json(200, {"Invoices": [{"InvoiceNumber": "INV44", "Type": "ACCREC"}]}),
    )
    found = make_client(script, clock, limiter).find_invoices_by_number(TENANT, CONN, numbers)
    assert set(found) == {"INV3", "INV44"}
    first, second = (r.url.params["InvoiceNumbers"].split(",") for r in script.requests)
    assert len(first) == 40
    assert len(second) == 5


def test_contact_look_up_filters_on_contact_number_including_archived(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(200, {"Contacts": [{"ContactNumber": "C42", "ContactStatus": "ARCHIVED"}]})
    )
    found = make_client(script, clock, limiter).find_contacts_by_number(
        TENANT, CONN, ["C42", "C43"]
    )
    assert found == {"C42": {"ContactNumber": "C42", "ContactStatus": "ARCHIVED"}}
    params = script.requests[0].url.params
    assert params["where"] == 'ContactNumber=="C42" OR ContactNumber=="C43"'
    assert params["includeArchived"] == "true"


def test_credit_note_look_up(clock: VirtualTime, limiter: RateLimiter) -> None:
    script = Script(
        xero_json(200, {"CreditNotes": [{"CreditNoteNumber": "CN7", "Type": "ACCRECCREDIT"}]})
    )
    found = make_client(script, clock, limiter).find_credit_notes_by_number(TENANT, CONN, ["CN7"])
    assert set(found) == {"CN7"}
    assert script.requests[0].url.params["where"] == 'CreditNoteNumber=="CN7"'


def test_payment_look_up_groups_split_payments_and_ignores_deleted_ones(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(
            200,
            {
                "Payments": [
                    {"Reference": "PAY12", "PaymentID": "p1", "Status": "AUTHORISED"},
                    {"Reference": "PAY12", "PaymentID": "p2", "Status": "AUTHORISED"},
                    {"Reference": "PAY12", "PaymentID": "p0", "Status": "DELETED"},
                ]
            },
        )
    )
    found = make_client(script, clock, limiter).find_payments_by_reference(
        TENANT, CONN, ["PAY12", "PAY12"]
    )
    assert [p["PaymentID"] for p in found["PAY12"]] == ["p1", "p2"]
    assert script.requests[0].url.params["where"] == 'Reference=="PAY12"'


def test_overpayment_look_up_filters_on_type(clock: VirtualTime, limiter: RateLimiter) -> None:
    script = Script(
        xero_json(
            200,
            {
                "BankTransactions": [
                    {"Reference": "PAY5", "Type": "RECEIVE-OVERPAYMENT", "Status": "AUTHORISED"},
                    {"Reference": "PAY5", "Type": "RECEIVE", "Status": "AUTHORISED"},
                ]
            },
        )
    )
    found = make_client(script, clock, limiter).find_overpayments_by_reference(
        TENANT, CONN, ["PAY5", "PAY6"]
    )
    assert len(found["PAY5"]) == 1
    assert "PAY6" not in found
    where = script.requests[0].url.params["where"]
    assert where == '(Reference=="PAY5" OR Reference=="PAY6") AND Type=="RECEIVE-OVERPAYMENT"'


def test_a_server_refusing_or_in_where_is_asked_one_value_at_a_time_from_then_on(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    refused = xero_json(400, {"Message": "only AND-ed equalities in where clauses"})
    script = Script(
        refused,
        xero_json(200, {"CreditNotes": [{"CreditNoteNumber": "CN1", "Type": "ACCRECCREDIT"}]}),
        xero_json(200, {"CreditNotes": []}),
        xero_json(200, {"CreditNotes": [{"CreditNoteNumber": "CN3", "Type": "ACCRECCREDIT"}]}),
    )
    client = make_client(script, clock, limiter)
    assert set(client.find_credit_notes_by_number(TENANT, CONN, ["CN1", "CN2"])) == {"CN1"}
    assert set(client.find_credit_notes_by_number(TENANT, CONN, ["CN3"])) == {"CN3"}
    assert [r.url.params["where"] for r in script.requests] == [
        'CreditNoteNumber=="CN1" OR CreditNoteNumber=="CN2"',
        'CreditNoteNumber=="CN1"',
        'CreditNoteNumber=="CN2"',
        'CreditNoteNumber=="CN3"',
    ]


def test_look_ups_refuse_values_that_would_break_the_filter(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    with pytest.raises(ValueError, match=r"quotes are not allowed"):
        make_client(Script(), clock, limiter).find_contacts_by_number(TENANT, CONN, ['C1" OR 1'])


def test_accounts_source_adapter_maps_tenants_to_connections(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    script = Script(
        xero_json(200, {"Accounts": [{"Code": "200"}]}),
        xero_json(200, {"TaxRates": [{"TaxType": "OUTPUT"}]}),
        xero_json(200, {"TrackingCategories": []}),
    )
    source = XeroAccountsSource(
        make_client(script, clock, limiter), lambda tenant: f"conn-{tenant}"
    )
    assert source.accounts(TENANT) == [{"Code": "200"}]
    assert source.tax_rates(TENANT) == [{"TaxType": "OUTPUT"}]
    assert source.tracking_categories(TENANT) == []
    assert {r.headers["xero-tenant-id"] for r in script.requests} == {TENANT}


# -- secrets stay out of logs and errors ----------------------------------------------------


def test_debug_logs_name_the_call_but_never_the_token(
    clock: VirtualTime, limiter: RateLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(httpx.Response(503, text="down"), xero_json(403, {"detail": "Forbidden"}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ReconnectRequired) as caught:
        send(make_client(script, clock, limiter), "INV1", key="log-key")
    assert "PUT /Invoices -> 503" in caplog.text
    assert "log-key" in caplog.text
    assert TENANT in caplog.text
    assert "tok-1" not in caplog.text
    assert "tok-1" not in str(caught.value)
    assert "tok-1" not in repr(caught.value)


def test_an_unexpected_httpx_error_keeps_only_its_type_never_the_token(
    clock: VirtualTime, limiter: RateLimiter
) -> None:
    leaky = httpx.LocalProtocolError("Illegal header value b'Bearer tok-1'")
    script = Script(leaky, leaky)
    with pytest.raises(OutcomeUnknown) as caught:
        send(make_client(script, clock, limiter, max_attempts=2), "INV1")
    assert "tok-1" not in str(caught.value)
    assert "LocalProtocolError" in str(caught.value)
