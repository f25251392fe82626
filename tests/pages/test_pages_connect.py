"""Connect to Xero from the settings page: the OAuth round trip through the sandbox, one
organisation linked at once, several chosen on a page, and every failure said in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from support.pages_practice import PagesPractice, pages_practice
from support.pages_world import STAFF, csrf_of


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagesPractice]:
    yield from pages_practice(tmp_path, monkeypatch)


def test_one_organisation_is_linked_to_the_location_it_was_started_for(
    practice: PagesPractice,
) -> None:
    tenant = practice.organisations[1]
    answer = practice.connect("loc-mel", tenant)
    assert answer.status_code == 303
    assert "location=loc-mel" in answer.headers["location"]
    saved = practice.host.settings("xero")
    assert saved["locations"]["loc-mel"] == {"tenant_id": tenant, "connection_enabled": True}
    page = practice.client().get(answer.headers["location"]).text
    assert "is connected to Xero organisation" in page


def test_several_organisations_lead_to_a_choice_and_the_one_chosen_is_linked(
    practice: PagesPractice,
) -> None:
    first, second = practice.organisations
    client = practice.client()
    answer = client.get(practice.consent(client, "loc-mel", f"{first},{second}"))
    assert answer.status_code == 303
    assert "/connect/choose?location=loc-mel" in answer.headers["location"]
    assert "locations" not in practice.host.settings("xero")  # nothing linked yet

    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert "Choose the Xero organisation for Melbourne" in page.text
    assert page.text.count('type="radio"') == 2
    for tenant in (first, second):
        assert practice.runtime.client.tenant_names[tenant] in page.text
    assert ">Use this organisation</button>" in page.text

    chosen = client.post(
        "/connect/choose",
        data={"csrf": csrf_of(page.text), "location_id": "loc-mel", "tenant_id": second},
    )
    assert chosen.status_code == 303
    assert practice.host.settings("xero")["locations"]["loc-mel"]["tenant_id"] == second


def test_an_organisation_the_tokens_do_not_reach_cannot_be_chosen(
    practice: PagesPractice,
) -> None:
    first = practice.organisations[0]
    client = practice.client()
    client.get(practice.consent(client, "loc-mel", first))
    page = client.get("/settings").text
    refused = client.post(
        "/connect/choose",
        data={"csrf": csrf_of(page), "location_id": "loc-bne", "tenant_id": first},
    )
    assert refused.status_code == 303
    assert "loc-bne" not in practice.host.settings("xero")["locations"]
    assert "Not" in client.get(refused.headers["location"]).text


def test_a_forged_state_is_said_in_words_and_links_nothing(practice: PagesPractice) -> None:
    client = practice.client()
    answer = client.get("/connect/callback", params={"code": "stolen-code", "state": "forged"})
    assert answer.status_code == 303
    assert "stolen-code" not in answer.headers["location"]
    assert "forged" not in answer.headers["location"]
    page = client.get(answer.headers["location"])
    assert page.status_code == 200
    assert "does not belong to a Connect to Xero started here" in page.text
    assert "Traceback" not in page.text
    assert practice.host.settings("xero").get("locations") is None


def test_a_replayed_callback_is_refused(practice: PagesPractice) -> None:
    client = practice.client()
    back = practice.consent(client, "loc-syd", practice.organisations[0])
    assert client.get(back).status_code == 303
    again = client.get(back)
    assert "does not belong" in client.get(again.headers["location"]).text


def test_access_denied_is_said_in_words(practice: PagesPractice) -> None:
    client = practice.client()
    answer = client.get("/connect/callback", params={"error": "access_denied", "state": "s"})
    assert "access to Xero was not allowed" in client.get(answer.headers["location"]).text


def test_shared_mode_links_the_one_organisation(practice: PagesPractice) -> None:
    assert practice.host.save_plugin_settings("xero", {"organisation_mode": "shared"}) == []
    tenant = practice.organisations[0]
    assert practice.connect("loc-bne", tenant).status_code == 303
    saved = practice.host.settings("xero")
    assert saved["tenant_id"] == tenant
    assert practice.engine.settings.tenant_for("loc-syd") == tenant


def test_no_code_state_or_token_appears_in_any_page_or_redirect(practice: PagesPractice) -> None:
    client = practice.client()
    back = practice.consent(client, "loc-syd", ",".join(practice.organisations))
    query = dict(parse_qsl(urlsplit(back).query))
    callback = client.get(back)
    tokens = practice.runtime.tokens.load("loc-syd")
    secrets = [query["code"], query["state"], tokens.access_token, tokens.refresh_token]
    seen = [callback.headers["location"]]
    for path in (
        callback.headers["location"],
        "/settings?location=loc-syd",
        "/connect/choose?location=loc-syd",
        "/dashboard",
        "/contacts",
        "/start",
    ):
        answer = client.get(path)
        seen.append(answer.text)
        seen.append(answer.headers.get("location", ""))
    for secret in secrets:
        assert secret
        assert all(secret not in text for text in seen)


def test_disconnect_forgets_the_connection_and_unlinks_the_location(
    practice: PagesPractice,
) -> None:
    tenant = practice.organisations[0]
    practice.connect("loc-syd", tenant)
    client = practice.client()
    page = client.get("/settings", params={"location": "loc-syd"}).text
    answer = client.post("/connect/loc-syd/disconnect", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    assert practice.runtime.tokens.load("loc-syd") is None
    assert practice.host.settings("xero")["locations"]["loc-syd"] == {
        "tenant_id": None,
        "connection_enabled": False,
    }
    assert tenant not in practice.sandbox.identity.connections


def test_the_round_trip_through_the_sandboxs_consent_page_links_the_ticked_organisation(
    practice: PagesPractice,
) -> None:
    second = practice.organisations[1]
    client = practice.client()
    answer = client.get(practice.consent(client, "loc-bne", second, on_page=True))
    assert answer.status_code == 303
    assert practice.host.settings("xero")["locations"]["loc-bne"]["tenant_id"] == second


def test_cancel_on_the_consent_page_comes_back_as_words(practice: PagesPractice) -> None:
    client = practice.client()
    authorize = practice.press_connect(client, "loc-syd")
    with httpx.Client(timeout=10.0) as browser:
        cancelled = browser.post(authorize, data={"action": "cancel"})
    back = urlsplit(cancelled.headers["location"])
    answer = client.get(f"{back.path}?{back.query}")
    assert "access to Xero was not allowed" in client.get(answer.headers["location"]).text
    assert "locations" not in practice.host.settings("xero")


def test_staff_who_are_not_admins_get_403_on_the_connect_flow(practice: PagesPractice) -> None:
    staff = practice.client(STAFF)
    for path in ("/connect/callback?code=c&state=s", "/connect/choose?location=loc-syd"):
        assert staff.get(path).status_code == 403
    for path in ("/connect/loc-syd", "/connect/choose", "/connect/loc-syd/disconnect"):
        assert staff.post(path, data={"csrf": "x"}).status_code == 403


def test_the_dashboard_names_a_connected_organisation_as_xero_does(
    practice: PagesPractice,
) -> None:
    tenant = practice.organisations[1]
    practice.connect("loc-mel", tenant)
    name = practice.runtime.client.tenant_names[tenant]
    html = practice.client().get("/dashboard").text
    assert f'<h3 title="{tenant}">{name} <span class="muted">· Melbourne</span></h3>' in html
