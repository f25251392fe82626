"""``POST /actions/{action}``: a page's button runs the admin action and goes back with its
sentence; ``next`` never leads off the app (no open redirect); only admins, only with the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.requests import Request
from support.admin_practice import THEIR_CONTACT, Running, running_practice
from support.pages_world import ADMIN, STAFF, client_for, csrf_of

from pm_xero_plugin.pages.actions import safe_next


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Running]:
    with running_practice(tmp_path / "pm") as running:
        yield running


def post(p: Running, action: str, **fields: object) -> tuple[int, str, str]:
    """Post a button as the admin; the status, where it leads and the message it carries."""
    client = client_for(p.host, ADMIN)
    token = csrf_of(client.get("/contacts").text)
    answer = client.post(f"/actions/{action}", data={"csrf": token, **fields})
    location = answer.headers.get("location", "")
    said = parse_qs(urlsplit(location).query).get("said", [""])[0]
    return answer.status_code, location, said


def test_retry_runs_the_action_and_goes_back_with_its_sentence(practice: Running) -> None:
    status, location, said = post(
        practice, "retry", row_id=practice.failed_row, next="/dashboard?state=failed"
    )
    assert status == 303
    assert urlsplit(location).path == "/dashboard"
    assert parse_qs(urlsplit(location).query)["state"] == ["failed"]
    assert said.startswith(f"row {practice.failed_row} (invoice #3 in T1): retried, failed -> ")
    row = practice.engine.ledger.get(practice.failed_row)
    assert row is not None
    assert row.state != "failed"


def test_the_message_of_a_refused_move_comes_back_too(practice: Running) -> None:
    _, _, said = post(practice, "exclude", row_id=practice.synced_row, next="/contacts")
    assert said == f"row {practice.synced_row} (invoice #2 in T1) is synced: it cannot be excluded"


def test_link_contact_posts_the_ways_out_fields(practice: Running) -> None:
    _, location, said = post(practice, "link_contact", row_id=practice.clash_row, next="/contacts")
    assert urlsplit(location).path == "/contacts"
    assert "linked to a Xero contact" in said
    row = practice.engine.ledger.get(practice.clash_row)
    assert row is not None
    assert row.xero_id == THEIR_CONTACT["ContactID"]


def test_an_unknown_action_is_said_not_a_500(practice: Running) -> None:
    status, _, said = post(practice, "explode", row_id=1)
    assert status == 303
    assert said == "unknown action 'explode'"


def test_disconnect_is_left_to_the_settings_page(practice: Running) -> None:
    _, _, said = post(practice, "disconnect", location_id="syd")
    assert said.startswith("disconnect is done from the Settings page")


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example/steal",
        "//evil.example/steal",
        "/\\evil.example",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "/contacts/../../elsewhere",
        "\t//evil.example",
        "contacts",
    ],
)
def test_next_off_the_app_is_refused(practice: Running, evil: str) -> None:
    status, location, _ = post(practice, "retry", row_id=practice.failed_row, next=evil)
    assert status == 303
    assert location.startswith("/dashboard?said=")


def test_next_under_the_mount_point_only() -> None:
    def request(root: str) -> Request:
        return Request(
            {
                "type": "http",
                "scheme": "https",
                "server": ("pm.example", 443),
                "root_path": root,
                "path": root + "/actions/retry",
                "headers": [(b"host", b"pm.example")],
                "query_string": b"",
            }
        )

    mounted = request("/plugins/xero")
    assert safe_next(mounted, "/plugins/xero/contacts?x=1") == "/plugins/xero/contacts?x=1"
    assert safe_next(mounted, "https://pm.example/plugins/xero/dashboard") == (
        "/plugins/xero/dashboard"
    )
    assert safe_next(mounted, "/plugins/other/dashboard") is None
    assert safe_next(mounted, "/plugins/xerox") is None
    assert safe_next(mounted, "https://other.example/plugins/xero/dashboard") is None
    assert safe_next(mounted, "/plugins/xero/../admin") is None


def test_staff_get_403_on_every_action(practice: Running) -> None:
    token = csrf_of(client_for(practice.host, ADMIN).get("/contacts").text)
    for action in ("retry", "resolve", "exclude", "include_parent", "link_contact"):
        answer = client_for(practice.host, STAFF).post(
            f"/actions/{action}", data={"csrf": token, "row_id": practice.failed_row}
        )
        assert answer.status_code == 403
    row = practice.engine.ledger.get(practice.failed_row)
    assert row is not None
    assert row.state == "failed"


def test_an_action_without_the_token_is_refused(practice: Running) -> None:
    answer = client_for(practice.host, ADMIN).post(
        "/actions/resolve", data={"row_id": practice.failed_row}
    )
    assert answer.status_code == 403
    row = practice.engine.ledger.get(practice.failed_row)
    assert row is not None
    assert row.state == "failed"


def test_mounted_under_a_prefix_next_stays_under_it(practice: Running) -> None:
    from starlette.testclient import TestClient
    from support.pages_world import HostServices, as_visitor, plugin_app

    from hookspecs.pages import PageContext

    context = PageContext(ADMIN, "practice-1", HostServices(practice.host))
    client = TestClient(
        as_visitor(plugin_app(), context),
        base_url="http://testserver",
        root_path="/plugins/xero",
        follow_redirects=False,
    )
    page = client.get("/plugins/xero/contacts").text
    assert 'name="next" value="/plugins/xero/contacts"' in page
    token = csrf_of(page)

    def back(next_: str) -> str:
        answer = client.post(
            "/plugins/xero/actions/retry",
            data={"csrf": token, "row_id": practice.failed_row, "next": next_},
        )
        assert answer.status_code == 303
        return str(answer.headers["location"])

    assert back("/plugins/xero/contacts").startswith("/plugins/xero/contacts?said=")
    assert back("/plugins/other/page").startswith("/plugins/xero/dashboard?said=")
    assert back("/contacts").startswith("/plugins/xero/dashboard?said=")
