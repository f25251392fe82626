"""Where a stand-in most often differs from Xero (issue 10), each pinned to Xero's behaviour:
contact-number uniqueness, both lock dates and who they stop, unitdp, the 401 body, the
per-element error flag, credit-note allocation dates and OAuth strictness (overpayment
references: test_where_filters.py; the refresh grace: test_identity.py)."""

from __future__ import annotations

import signal
from datetime import date
from typing import Any

import httpx
import pytest
from support.sandbox_helpers import REDIRECT, Api, authorize, start_sandbox_cli

from pm_xero_plugin.sandbox import Sandbox, SandboxClock


def _element(resp: httpx.Response, key: str) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    element: dict[str, Any] = resp.json()[key][0]
    return element


def _errors(resp: httpx.Response, key: str = "Invoices") -> list[str]:
    element = _element(resp, key)
    assert element["StatusAttributeString"] == "ERROR", element
    return [e["Message"] for e in element["ValidationErrors"]]


def _ok(resp: httpx.Response, key: str = "Invoices") -> dict[str, Any]:
    element = _element(resp, key)
    assert element["StatusAttributeString"] == "OK", element
    return element


# -- 1. ContactNumber is unique --------------------------------------------------------------


def test_a_second_contact_with_a_taken_contact_number_is_refused_with_the_number_message(
    api: Api, sandbox: Sandbox
) -> None:
    api.contact("Jane Pawson", "C42")
    resp = api.put(
        "/Contacts",
        {"Contacts": [{"Name": "Someone Else", "ContactNumber": "C42"}]},
        summarizeErrors="false",
    )
    (message,) = _errors(resp, "Contacts")
    assert message.startswith("The contact number C42 is already assigned to another contact")
    assert "contact name" not in message
    assert len(sandbox.org(api.tenant).contacts) == 1


def test_contact_number_stays_unique_against_archived_contacts_and_on_update(api: Api) -> None:
    api.contact("Old Owner", "C7")
    api.post("/Contacts", {"Contacts": [{"ContactNumber": "C7", "ContactStatus": "ARCHIVED"}]})
    resp = api.put(
        "/Contacts",
        {"Contacts": [{"Name": "New Owner", "ContactNumber": "C7"}]},
        summarizeErrors="false",
    )
    assert "already assigned to another contact" in _errors(resp, "Contacts")[0]
    other = api.contact("Third Owner", "C8")
    moved = api.post(
        f"/Contacts/{other['ContactID']}",
        {"Contacts": [{"ContactNumber": "C7"}]},
        summarizeErrors="false",
    )
    assert "contact number C7" in _errors(moved, "Contacts")[0]
    # POST by number updates the one contact that has it: not a clash with itself.
    same = api.post(
        "/Contacts", {"Contacts": [{"ContactNumber": "C8", "EmailAddress": "t@example.com"}]}
    )
    assert _ok(same, "Contacts")["ContactID"] == other["ContactID"]


# -- 2. two lock dates, advisers and others ---------------------------------------------------


def test_end_of_year_lock_date_has_its_own_message_and_is_on_the_organisation(
    api: Api, sandbox: Sandbox
) -> None:
    sandbox.faults(api.tenant).end_of_year_lock_date = date(2024, 2, 29)
    c = api.contact()
    assert _errors(api.invoice(c["ContactID"], Date="2024-02-29")) == [
        "The document date cannot be before the end of year lock date, currently set at 29-Feb-2024"
    ]
    _ok(api.invoice(c["ContactID"], "INV-2", Date="2024-03-01"))
    _ok(api.invoice(c["ContactID"], "INV-3", Date="2024-01-15", Status="DRAFT"))  # drafts may
    org = api.get("/Organisation").json()["Organisations"][0]
    assert org["EndOfYearLockDate"].startswith("/Date(")
    assert "PeriodLockDate" not in org
    assert sandbox.inspect()[api.tenant]["end_of_year_lock_date"] == "2024-02-29"


def test_period_lock_stops_everyone_but_advisers_and_the_year_end_lock_stops_advisers_too(
    api: Api, sandbox: Sandbox
) -> None:
    faults = sandbox.faults(api.tenant)
    faults.lock_date, faults.end_of_year_lock_date = date(2024, 2, 29), date(2023, 12, 31)
    c = api.contact()
    # A standard user (the default): the later of the two dates is the one shown.
    assert _errors(api.invoice(c["ContactID"], "INV-1", Date="2023-12-01")) == [
        "The document date cannot be before the period lock date, currently set at 29-Feb-2024"
    ]
    faults.adviser = True
    _ok(api.invoice(c["ContactID"], "INV-1", Date="2024-02-01"))  # inside the period lock only
    assert _errors(api.invoice(c["ContactID"], "INV-2", Date="2023-12-31")) == [
        "The document date cannot be before the end of year lock date, currently set at 31-Dec-2023"
    ]
    payment = {
        "Invoice": {"InvoiceNumber": "INV-1"},
        "Account": {"Code": "090"},
        "Date": "2023-11-30",
        "Amount": 10,
    }
    assert _errors(
        api.put("/Payments", {"Payments": [payment]}, summarizeErrors="false"), "Payments"
    ) == [
        "The payment date cannot be before the end of year lock date, currently set at 31-Dec-2023"
    ]


# -- 5. unitdp ----------------------------------------------------------------------------------


def _four_decimal_invoice(api: Api, contact_id: str, number: str, **params: str) -> Any:
    line = {"Description": "Kibble", "Quantity": 10, "UnitAmount": 1.2345, "AccountCode": "204"}
    inv = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": number,
        "Date": "2024-03-01",
        "DueDate": "2024-03-15",
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [line],
    }
    return _ok(api.put("/Invoices", {"Invoices": [inv]}, summarizeErrors="false", **params))


def test_unit_amounts_are_rounded_to_2_decimals_unless_unitdp_is_4(api: Api) -> None:
    c = api.contact()
    rounded = _four_decimal_invoice(api, c["ContactID"], "INV-2DP")
    assert rounded["LineItems"][0]["UnitAmount"] == 1.23
    assert rounded["Total"] == 12.30  # 10 × 1.23, not 10 × 1.2345 = 12.35
    kept = _four_decimal_invoice(api, c["ContactID"], "INV-4DP", unitdp="4")
    assert kept["LineItems"][0]["UnitAmount"] == 1.2345
    assert kept["Total"] == 12.35
    # Reading back: 4 decimals only for a request that asks for them.
    plain = api.get("/Invoices/INV-4DP").json()["Invoices"][0]
    assert plain["LineItems"][0]["UnitAmount"] == 1.23
    assert plain["Total"] == 12.35
    four = api.get("/Invoices/INV-4DP", unitdp="4").json()["Invoices"][0]
    assert four["LineItems"][0]["UnitAmount"] == 1.2345


# -- 6. 401 body -----------------------------------------------------------------------------


def test_401_body_has_xeros_observed_shape(
    client: httpx.Client, api: Api, clock: SandboxClock
) -> None:
    unknown = client.get("/api.xro/2.0/Invoices", headers={"Authorization": "Bearer nope"})
    assert unknown.json() == {
        "Type": None,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": "AuthenticationUnsuccessful",
        "Extensions": {},
    }
    clock.advance(31 * 60)
    expired = api.get("/Invoices").json()
    assert set(expired) == {"Type", "Title", "Status", "Detail", "Extensions"}
    assert expired["Detail"].startswith("TokenExpired: ")
    assert expired["Status"] == 401


# -- 7. the per-element error flag follows the spec ------------------------------------------


@pytest.mark.parametrize(
    ("key", "flag"),
    [
        ("Contacts", "HasValidationErrors"),
        ("Payments", "HasValidationErrors"),
        ("Invoices", "HasErrors"),
    ],
)
def test_a_failed_element_carries_the_error_flag_its_schema_declares(
    api: Api, key: str, flag: str
) -> None:
    """The spec's Contact and Payment error examples carry ``HasValidationErrors: true``;
    Invoice and CreditNote declare ``HasErrors``."""
    bad = {
        "Contacts": {"Name": ""},
        "Payments": {"Invoice": {"InvoiceNumber": "nope"}, "Account": {"Code": "090"}, "Amount": 1},
        "Invoices": {
            "Type": "ACCREC",
            "Contact": {"ContactID": "00000000-0000-4000-8000-000000000000"},
        },
    }[key]
    element = _element(api.put(f"/{key}", {key: [bad]}, summarizeErrors="false"), key)
    assert element["StatusAttributeString"] == "ERROR"
    assert element[flag] is True
    wrong = {"HasErrors", "HasValidationErrors"} - {flag}
    assert not wrong & set(element)


# -- 8. credit-note allocations ---------------------------------------------------------------


def _credit_note(api: Api, contact_id: str, number: str, when: str, amount: float = 20) -> Any:
    cn = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "CreditNoteNumber": number,
        "Status": "AUTHORISED",
        "Date": when,
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {"Description": "r", "Quantity": 1, "UnitAmount": amount, "AccountCode": "201"}
        ],
    }
    return _ok(api.put("/CreditNotes", {"CreditNotes": [cn]}), "CreditNotes")


def _allocate(api: Api, note: dict[str, Any], invoice_id: str, when: str, amount: float = 5) -> Any:
    body = {"Allocations": [{"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": when}]}
    return api.put(
        f"/CreditNotes/{note['CreditNoteID']}/Allocations", body, summarizeErrors="false"
    )


def test_allocation_is_dated_at_the_later_of_the_two_documents_whatever_is_sent(api: Api) -> None:
    c = api.contact()
    inv = _ok(api.invoice(c["ContactID"], "A-1", Date="2024-03-01"))
    note = _credit_note(api, c["ContactID"], "CN-1", "2024-03-05")
    alloc = _ok(_allocate(api, note, inv["InvoiceID"], "2024-01-01"), "Allocations")
    assert alloc["DateString"].startswith("2024-03-05")  # the credit note's, the later date
    later_inv = _ok(api.invoice(c["ContactID"], "A-2", Date="2024-03-09"))
    alloc = _ok(_allocate(api, note, later_inv["InvoiceID"], "2024-03-05"), "Allocations")
    assert alloc["DateString"].startswith("2024-03-09")  # now the invoice's


def test_a_credit_note_in_a_locked_period_may_be_applied_to_an_invoice_in_an_open_one(
    api: Api, sandbox: Sandbox
) -> None:
    c = api.contact()
    note = _credit_note(api, c["ContactID"], "CN-1", "2024-01-10")
    locked_inv = _ok(api.invoice(c["ContactID"], "A-0", Date="2024-01-20"))
    open_inv = _ok(api.invoice(c["ContactID"], "A-1", Date="2024-03-01"))
    sandbox.faults(api.tenant).lock_date = date(2024, 1, 31)
    alloc = _ok(_allocate(api, note, open_inv["InvoiceID"], "2024-01-10"), "Allocations")
    assert alloc["DateString"].startswith("2024-03-01")
    assert api.get("/Invoices/A-1").json()["Invoices"][0]["AmountDue"] == 105  # 110 - 5
    # Both documents locked: the allocation would fall in the locked period.
    assert _errors(_allocate(api, note, locked_inv["InvoiceID"], "2024-03-01"), "Allocations") == [
        "The document date cannot be before the period lock date, currently set at 31-Jan-2024"
    ]


# -- 10. OAuth strictness -----------------------------------------------------------------------


def _authorize(client: httpx.Client, **params: str) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "scope": "offline_access accounting.transactions",
        "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **params,
    }
    return client.get("/identity/connect/authorize", params=query)


@pytest.mark.parametrize(
    "redirect",
    [
        "https://evil.example/steal",
        "http://127.0.0.1:8766/callback/",  # a trailing slash is another URI
        "http://127.0.0.1:8767/callback",  # so is another port, even on loopback
        "https://127.0.0.1:8766/callback",
        "http://127.0.0.1:8766/callback?next=https://evil.example",
    ],
)
def test_authorize_refuses_an_unregistered_redirect_uri_without_redirecting(
    client: httpx.Client, redirect: str
) -> None:
    resp = _authorize(client, redirect_uri=redirect)
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert resp.text == "Error: unauthorized_client : Invalid redirect_uri"


def test_registered_redirect_uris_are_configurable(spec_path: str) -> None:
    mine = "https://pm.example/xero/callback"
    sandbox = Sandbox(spec_path=spec_path, redirect_uris=[mine])
    with httpx.Client(transport=sandbox.transport(), base_url="http://x") as c:
        ok = _authorize(c, redirect_uri=mine)
        assert ok.status_code == 302
        assert ok.headers["location"].startswith(mine + "?code=")
        assert _authorize(c).status_code == 400  # the default is no longer registered


@pytest.mark.parametrize(
    "method", [{"code_challenge_method": "plain"}, {"code_challenge_method": ""}]
)
def test_pkce_is_s256_only_and_other_methods_come_back_as_invalid_request(
    client: httpx.Client, method: dict[str, str]
) -> None:
    resp = _authorize(client, **method)
    assert resp.status_code == 302
    back = httpx.URL(resp.headers["location"])
    assert str(back).startswith(REDIRECT)
    assert back.params["error"] == "invalid_request"
    assert "code" not in back.params
    assert back.params["error_description"] == "Transform algorithm not supported"
    assert back.params["state"] == "s1"


def test_a_challenge_without_a_method_means_plain_and_is_refused(client: httpx.Client) -> None:
    query = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "scope": "offline_access",
        "code_challenge": "x" * 43,
    }
    resp = client.get("/identity/connect/authorize", params=query)
    assert httpx.URL(resp.headers["location"]).params["error"] == "invalid_request"


@pytest.mark.parametrize("auth", [("sandbox-client", "wrong"), None])
def test_the_client_secret_is_checked_even_with_pkce(
    client: httpx.Client, auth: tuple[str, str] | None
) -> None:
    code, verifier = authorize(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    if auth is None:
        form["client_id"] = "sandbox-client"  # a PKCE-only request: no secret at all
    resp = client.post("/connect/token", data=form, auth=auth)
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_client"}


def test_an_unknown_client_id_gets_xeros_error_page(client: httpx.Client) -> None:
    resp = _authorize(client, client_id="someone-else")
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert resp.text.startswith("Error: unauthorized_client : ")


def test_pm_xero_sandbox_registers_the_redirect_uris_it_is_given(spec_path: str) -> None:
    mine = "http://127.0.0.1:9123/xero/callback"
    proc, url, banner = start_sandbox_cli("--redirect-uri", mine, spec_path=spec_path)
    try:
        assert f"redirect URIs: {mine}\n" in banner
        with httpx.Client(base_url=url, timeout=10) as c:
            assert _authorize(c, redirect_uri=mine).status_code == 302
            assert _authorize(c).status_code == 400  # only what was given is registered
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


# -- 11. XML bodies -----------------------------------------------------------------------------

_XML = "<Contacts><Contact><Name>Jane Pawson</Name></Contact></Contacts>"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (_XML, "application/xml"),
        (_XML, "text/xml; charset=utf-8"),
        (f"xml={_XML}", "application/x-www-form-urlencoded"),  # how pyxero sends it
        (_XML, "application/json"),  # mislabelled
    ],
)
def test_xml_bodies_are_refused_with_a_clear_message_saying_json_is_required(
    api: Api, sandbox: Sandbox, content: str, content_type: str
) -> None:
    resp = api.client.put(
        "/api.xro/2.0/Contacts",
        content=content,
        headers={**api.tokens.headers(), "Content-Type": content_type},
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["Type"] == "PostDataInvalidException"
    assert "JSON request bodies only" in body["Message"]
    assert "XML" in body["Message"]
    assert sandbox.org(api.tenant).contacts == {}
