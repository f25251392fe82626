"""The guard in front of every page: who may see them, and which requests may change anything."""

from __future__ import annotations

import time

import pytest
from support.pages_world import ADMIN, STAFF, client_for, csrf_of

from hookspecs.pages import PageContext, Visitor
from hookspecs.refhost import RefHost
from pm_xero_plugin.pages.guard import TOKEN_HOURS, csrf_token, token_valid

PAGES = ["/", "/settings", "/contacts", "/start", "/dashboard", "/records/1"]


@pytest.mark.parametrize("path", PAGES)
def test_a_request_past_no_login_gets_401(started_host: RefHost, path: str) -> None:
    assert client_for(started_host, None).get(path).status_code == 401


@pytest.mark.parametrize("path", PAGES)
def test_staff_who_are_not_admins_get_403_on_every_page(started_host: RefHost, path: str) -> None:
    answer = client_for(started_host, STAFF).get(path)
    assert answer.status_code == 403
    assert "Only an admin" in answer.text


def test_staff_get_403_on_a_post_even_with_an_admins_token(started_host: RefHost) -> None:
    token = csrf_of(client_for(started_host, ADMIN).get("/settings").text)
    answer = client_for(started_host, STAFF).post("/settings", data={"csrf": token})
    assert answer.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(started_host: RefHost) -> None:
    answer = client_for(started_host, ADMIN).post("/settings", data={"x": "1"})
    assert answer.status_code == 403
    assert "security token" in answer.text


def test_a_token_issued_to_another_admin_is_refused() -> None:
    secret = b"s" * 32
    mine = PageContext(ADMIN, "practice-1", services=None)  # type: ignore[arg-type]
    theirs = PageContext(Visitor("u-2", "Other", True), "practice-1", services=None)  # type: ignore[arg-type]
    other_practice = PageContext(ADMIN, "practice-2", services=None)  # type: ignore[arg-type]
    token = csrf_token(secret, mine)
    assert token_valid(secret, mine, token)
    assert not token_valid(secret, theirs, token)
    assert not token_valid(secret, other_practice, token)
    assert not token_valid(b"t" * 32, mine, token)


def test_a_token_expires_after_its_hours() -> None:
    secret = b"s" * 32
    mine = PageContext(ADMIN, "practice-1", services=None)  # type: ignore[arg-type]
    issued = time.time()
    token = csrf_token(secret, mine, now=issued)
    assert token_valid(secret, mine, token, now=issued + 3600 * (TOKEN_HOURS - 1))
    assert not token_valid(secret, mine, token, now=issued + 3600 * (TOKEN_HOURS + 1))
    assert not token_valid(secret, mine, "garbage", now=issued)


def test_a_cross_site_post_is_refused_even_with_a_token(started_host: RefHost) -> None:
    client = client_for(started_host, ADMIN)
    token = csrf_of(client.get("/settings").text)
    answer = client.post(
        "/settings", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403


def test_pages_are_not_cached_nor_framed(started_host: RefHost) -> None:
    answer = client_for(started_host, ADMIN).get("/settings")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-frame-options"] == "DENY"


def test_another_practice_gets_404(started_host: RefHost) -> None:
    answer = client_for(started_host, ADMIN, practice_id="practice-2").get("/dashboard")
    assert answer.status_code == 404
    assert "does not serve this practice" in answer.text


def test_the_token_in_the_header_is_accepted_in_place_of_the_form_field(
    started_host: RefHost,
) -> None:
    client = client_for(started_host, ADMIN)
    token = csrf_of(client.get("/settings").text)
    answer = client.post(
        "/actions/retry", data={"row_id": "999999"}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 303
    assert "999999" in answer.headers["location"]


@pytest.mark.parametrize("token", ["².x", "9" * 5000 + ".x", ".", "12.", "abc"])
def test_a_garbled_token_is_refused_in_words_never_a_500(started_host: RefHost, token: str) -> None:
    answer = client_for(started_host, ADMIN).post("/actions/retry", data={"csrf": token})
    assert answer.status_code == 403
    assert "security token" in answer.text


def test_a_body_larger_than_any_page_sends_is_413(started_host: RefHost) -> None:
    client = client_for(started_host, ADMIN)
    token = csrf_of(client.get("/settings").text)
    answer = client.post("/settings", content=b"x" * (2 << 20), headers={"X-CSRF-Token": token})
    assert answer.status_code == 413


def test_a_websocket_is_closed_by_the_guard(started_host: RefHost) -> None:
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect),
        client_for(started_host, ADMIN).websocket_connect("/dashboard"),
    ):
        pass


def test_a_message_is_shown_only_when_this_add_on_signed_it(started_host: RefHost) -> None:
    client = client_for(started_host, ADMIN)
    forged = client.get("/settings", params={"said": "Your session expired: call 555-0100"})
    assert "555-0100" not in forged.text
    token = csrf_of(forged.text)
    moved = client.post("/actions/retry", data={"csrf": token, "row_id": "424242"})
    assert moved.status_code == 303
    shown = client.get(moved.headers["location"])
    assert "424242" in shown.text, "the add-on's own message is shown"
    tampered = moved.headers["location"].replace("424242", "555-0100")
    assert "555-0100" not in client.get(tampered).text


@pytest.mark.parametrize(
    "path",
    [
        "/records/99999999999999999999999",
        "/dashboard?after=~~²",
        "/dashboard?after=1~99999999999999999999~1",
    ],
)
def test_out_of_range_input_is_no_500(started_host: RefHost, path: str) -> None:
    assert client_for(started_host, ADMIN).get(path).status_code in (200, 404)
