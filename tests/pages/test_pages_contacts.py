"""The Contact sync page: each organisation's contact sync and its progress, the matches and
clashes it found (with their ways out as buttons), and "Start contact sync" handing the work to
the plugin's durable background job."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.admin_practice import THEIR_CONTACT, Running, running_practice
from support.cli_practice import settings
from support.pages_world import ADMIN, STAFF, client_for, csrf_of

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Running]:
    with running_practice(tmp_path / "pm") as running:
        yield running


def organisation_row(html: str, tenant: str) -> str:
    found = re.search(rf'<tr data-tenant="{tenant}">(.*?)</tr>', html, re.S)
    assert found is not None, html
    return found.group(1)


def with_customers(host: RefHost, tenant: str | None = "T1") -> None:
    for cid, number in (("c1", 1), ("c2", 2)):
        host.save_client(
            {
                "id": cid,
                "number": number,
                "location_id": "loc-1",
                "first_name": "Ann",
                "last_name": f"Lee{number}",
            }
        )
    if tenant is not None:
        assert host.save_plugin_settings("xero", settings({"loc-1": tenant}, None)) == []


def test_each_organisation_shows_its_contact_sync_and_counts(practice: Running) -> None:
    html = client_for(practice.host).get("/contacts").text
    mine = organisation_row(html, "T1")
    assert 'data-state="up_to_date"' in mine
    assert "2 of 2" in mine
    theirs = organisation_row(html, "T2")
    assert "0 of 1" in theirs  # c3 is held on its name
    assert 'data-refresh="0"' in html


def test_the_clashes_show_xeros_contact_and_the_ways_out(practice: Running) -> None:
    html = client_for(practice.host).get("/contacts").text
    assert "Clashes (1)" in html
    assert THEIR_CONTACT["ContactID"] in html
    assert "The contact name Ann Lee3 (C3) is already assigned." in html
    for label in ("Link to this contact", "Create under a distinct name", "Retry", "Exclude"):
        assert f">{label}</button>" in html
    assert 'action="http://testserver/actions/link_contact"' in html
    assert f'name="row_id" value="{practice.clash_row}"' in html
    assert 'value="Ann Lee3 (C3, London)"' in html  # the proposed distinct name


def test_a_clashs_button_links_the_contact_and_comes_back_here(practice: Running) -> None:
    client = client_for(practice.host)
    html = client.get("/contacts").text
    answer = client.post(
        "/actions/link_contact",
        data={
            "csrf": csrf_of(html),
            "row_id": practice.clash_row,
            "contact_id": THEIR_CONTACT["ContactID"],
            "next": re.search(r'name="next" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/contacts?said=")
    after = client.get(answer.headers["location"]).text
    assert "linked to a Xero contact" in after
    assert "Clashes (0)" in after


def test_the_matches_are_the_contacts_found_in_xero(practice: Running) -> None:
    html = client_for(practice.host).get("/contacts").text
    assert "Matches (1)" in html
    matches = html[html.index("Matches (1)") :]
    assert "Ann Lee2 (C2)" in matches
    assert "C2 found in Xero as X-contact-c2: ours by ContactNumber" in matches
    assert "Ann Lee1" not in matches  # created, not matched


def test_start_contact_sync_hands_the_work_to_the_plugins_job(started_host: RefHost) -> None:
    with_customers(started_host)
    client = client_for(started_host)
    token = csrf_of(client.get("/contacts").text)

    answer = client.post("/contacts/start", data={"csrf": token, "location_id": ""})

    assert answer.status_code == 303
    assert (
        "Contact+sync+started" in answer.headers["location"]
        or "Contact%20sync%20started" in (answer.headers["location"])
    )
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.tenant("T1").contact_sync != "not_started"
    assert engine.ledger.find("contact", "c1", "T1") is not None
    assert engine.pending_jobs() == []  # written down, run (inline in the tests), crossed off


def test_a_running_contact_sync_shows_its_progress_and_refreshes(started_host: RefHost) -> None:
    with_customers(started_host)
    client = client_for(started_host)
    client.post("/contacts/start", data={"csrf": csrf_of(client.get("/contacts").text)})

    html = client.get("/contacts").text  # no Xero app: nothing is sent, the sync runs on

    row = organisation_row(html, "T1")
    assert 'data-state="running"' in row
    assert "0 of 2 contacts sent" in row
    assert 'data-refresh="3"' in html


def test_start_without_a_linked_location_says_what_to_do(started_host: RefHost) -> None:
    with_customers(started_host, tenant=None)
    client = client_for(started_host)
    answer = client.post("/contacts/start", data={"csrf": csrf_of(client.get("/contacts").text)})
    assert answer.status_code == 303
    page = client.get(answer.headers["location"]).text
    assert "No location is linked to a Xero organisation yet" in page
    assert "Not linked to a Xero organisation yet: Sydney" in page


def test_start_of_an_unknown_location_is_refused(started_host: RefHost) -> None:
    with_customers(started_host)
    client = client_for(started_host)
    answer = client.post(
        "/contacts/start",
        data={"csrf": csrf_of(client.get("/contacts").text), "location_id": "paris"},
    )
    assert (
        "unknown+location" in answer.headers["location"]
        or "unknown%20location" in (answer.headers["location"])
    )
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.tenant("T1").contact_sync == "not_started"


def test_staff_get_403_on_the_page_and_its_button(started_host: RefHost) -> None:
    with_customers(started_host)
    token = csrf_of(client_for(started_host).get("/contacts").text)
    staff = client_for(started_host, STAFF)
    assert staff.get("/contacts").status_code == 403
    assert staff.post("/contacts/start", data={"csrf": token}).status_code == 403
    engine = plugin.get_engine()
    assert engine is not None
    assert engine.ledger.tenant("T1").contact_sync == "not_started"
    assert client_for(started_host, ADMIN).get("/contacts").status_code == 200


def test_matches_beyond_the_scanned_contacts_are_said_to_be_uncounted(
    practice: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pm_xero_plugin.pages import contacts

    monkeypatch.setattr(contacts, "MATCHES_SCANNED", 1)  # the newest synced contact is c2
    html = client_for(practice.host).get("/contacts").text
    assert "Matches (1)" in html
    assert "among the newest 1 contacts in Xero" in html
