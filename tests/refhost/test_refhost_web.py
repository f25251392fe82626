"""The reference host's web front: sign-in, its plugin list and switches, the plugins' mounts."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from hookspecs import hookimpl
from hookspecs.pages import (
    SCOPE_KEY,
    PageContext,
    PluginApp,
    Receive,
    Scope,
    Send,
    Visitor,
)
from hookspecs.refhost import ManualClock, RefHost, serve_web
from hookspecs.refhost.web import DEMO_STAFF, HostPageServices, PortBusy, WebFront, bind_loopback
from hookspecs.refhost.web.sessions import COOKIE, Sessions, Staff
from pm_xero_plugin import plugin as xero_plugin

ALEX = ("alex", "password")  # the admin
SAM = ("sam", "password")  # staff, not an admin


class EchoPlugin:
    """A plugin whose one page says what the host put into its scope."""

    def __init__(self) -> None:
        self.calls = 0
        self.web_app_calls = 0
        self.seen: list[Scope] = []

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.seen.append(scope)
        context = scope.get(SCOPE_KEY)
        assert isinstance(context, PageContext)
        body = (
            f"user={context.visitor.user_id} admin={context.visitor.is_admin} "
            f"practice={context.practice_id} root={scope['root_path']} path={scope['path']} "
            f"links={sorted(context.links.items())} router={'router' in scope}"
        ).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    @hookimpl
    def web_app(self) -> PluginApp:
        self.web_app_calls += 1
        return PluginApp(name="echo", title="Echo pages", app=self.app)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RefHost]:
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)),
        load_entrypoints=False,
        practice_id="practice-7",
    )
    host.add_location(
        {
            "id": "loc-1",
            "name": "Sydney",
            "timezone": "Australia/Sydney",
            "currency": "AUD",
            "country": "AU",
        }
    )
    try:
        yield host
    finally:
        host.stop()
        host.close()


@pytest.fixture
def echo(host: RefHost) -> EchoPlugin:
    plugin = EchoPlugin()
    host.register(plugin, name="echo")
    host.start()
    return plugin


@pytest.fixture
def with_xero(host: RefHost) -> RefHost:
    host.register(xero_plugin, name="xero")
    host.start()
    return host


def browser(host: RefHost, *, front: WebFront | None = None) -> TestClient:
    return TestClient(front or WebFront(host), base_url="http://testserver", follow_redirects=False)


def signed_in(host: RefHost, who: tuple[str, str] = ALEX) -> TestClient:
    client = browser(host)
    answer = client.post("/login", data={"user": who[0], "password": who[1]})
    assert answer.status_code == 303, answer.text
    return client


def token_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


# -- signing in and out --------------------------------------------------------------------------


def test_signing_in_sets_an_httponly_samesite_lax_cookie_and_goes_where_asked(
    host: RefHost,
) -> None:
    client = browser(host)
    form = client.get("/login?next=/plugins/echo/")
    assert form.status_code == 200
    assert 'name="password"' in form.text
    assert 'value="/plugins/echo/"' in form.text
    answer = client.post(
        "/login", data={"user": "alex", "password": "password", "next": "/plugins/echo/"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/plugins/echo/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert client.get("/plugins").status_code == 200


def test_a_wrong_password_or_unknown_name_is_refused_with_401_and_no_session(host: RefHost) -> None:
    client = browser(host)
    for user, password in (("alex", "wrong"), ("nobody", "password"), ("alex", "")):
        answer = client.post("/login", data={"user": user, "password": password})
        assert answer.status_code == 401
        assert "user name or password is wrong" in answer.text
        assert "set-cookie" not in answer.headers
    assert client.get("/plugins").headers["location"] == "/login?next=/plugins"


def test_after_signing_in_only_a_path_on_this_server_is_followed(host: RefHost) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "plugins"):
        answer = browser(host).post(
            "/login", data={"user": "alex", "password": "password", "next": target}
        )
        assert answer.headers["location"] == "/plugins", target


def test_signing_out_needs_the_csrf_token_and_ends_the_session_for_good(host: RefHost) -> None:
    client = signed_in(host)
    cookie = client.cookies[COOKIE]
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/plugins").status_code == 200  # still signed in
    token = token_of(client.get("/plugins").text)
    answer = client.post("/logout", data={"csrf": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert COOKIE not in client.cookies
    replay = browser(host)
    replay.cookies.set(COOKIE, cookie)
    assert replay.get("/plugins").status_code == 303  # the old cookie is worth nothing


def test_the_sign_out_link_plugins_show_leads_to_a_sign_out_button(host: RefHost) -> None:
    client = signed_in(host)
    page = client.get("/logout")
    assert page.status_code == 200
    assert 'action="/logout"' in page.text
    assert client.get("/plugins").status_code == 200  # a GET signs nobody out
    answer = client.post("/logout", data={"csrf": token_of(page.text)})
    assert answer.status_code == 303
    assert browser(host).get("/logout").headers["location"] == "/login"


def test_a_forged_or_tampered_cookie_is_no_session(host: RefHost) -> None:
    client = signed_in(host)
    real = client.cookies[COOKIE]
    session_id, _, mac = real.partition(".")
    for forged in (f"{session_id}.{'0' * len(mac)}", f"x{session_id}.{mac}", session_id, "x.y"):
        other = browser(host)
        other.cookies.set(COOKIE, forged)
        assert other.get("/plugins").status_code == 303, forged


def test_a_session_expires_after_its_lifetime() -> None:
    now = [1000.0]
    sessions = Sessions(b"k" * 32, DEMO_STAFF, clock=lambda: now[0], lifetime=60)
    cookie = sessions.open(DEMO_STAFF[0])
    assert sessions.signed_in(cookie) is not None
    now[0] += 61
    assert sessions.signed_in(cookie) is None


def test_the_session_key_comes_from_the_hosts_secret_file_and_sessions_from_memory(
    host: RefHost, tmp_path: Path
) -> None:
    cookie = signed_in(host).cookies[COOKIE]
    restarted = browser(host)  # a new front on the same host: same key, no sessions
    restarted.cookies.set(COOKIE, cookie)
    assert restarted.get("/plugins").status_code == 303
    assert WebFront(host).sessions._key == WebFront(host).sessions._key
    other_host = RefHost(tmp_path / "other", load_entrypoints=False)
    try:
        assert WebFront(host).sessions._key != WebFront(other_host).sessions._key
    finally:
        other_host.close()


# -- the plugin list and its switches --------------------------------------------------------


def test_the_plugin_list_shows_every_plugin_with_its_switch_and_a_link_to_its_pages(
    host: RefHost, echo: EchoPlugin
) -> None:
    page = signed_in(host).get("/plugins")
    assert page.status_code == 200
    assert 'data-plugin="echo"' in page.text
    assert "Echo pages" in page.text
    assert 'href="/plugins/echo/"' in page.text
    assert "Switch off" in page.text
    assert "Signed in as Alex Admin (admin)" in page.text


def test_staff_who_are_not_admins_see_the_list_without_switches(
    host: RefHost, echo: EchoPlugin
) -> None:
    page = signed_in(host, SAM).get("/plugins")
    assert page.status_code == 200
    assert 'data-plugin="echo"' in page.text
    assert "Switch off" not in page.text
    assert "Only an admin may switch" in page.text


def test_an_admins_switch_flips_the_hosts_switch_both_ways(host: RefHost, echo: EchoPlugin) -> None:
    client = signed_in(host)
    token = token_of(client.get("/plugins").text)
    off = client.post("/plugins", data={"csrf": token, "plugin": "echo", "enabled": "off"})
    assert off.status_code == 303
    assert not host.is_enabled("echo")
    assert "echo is now off." in client.get(off.headers["location"]).text
    on = client.post("/plugins", data={"csrf": token, "plugin": "echo", "enabled": "on"})
    assert on.status_code == 303
    assert host.is_enabled("echo")


def test_a_switch_without_the_token_or_from_another_site_changes_nothing(
    host: RefHost, echo: EchoPlugin
) -> None:
    client = signed_in(host)
    token = token_of(client.get("/plugins").text)
    flip = {"plugin": "echo", "enabled": "off"}
    assert client.post("/plugins", data=flip).status_code == 403
    assert client.post("/plugins", data={**flip, "csrf": "0" * 64}).status_code == 403
    cross = client.post(
        "/plugins", data={**flip, "csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    fetch = client.post(
        "/plugins", data={**flip, "csrf": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert fetch.status_code == 403
    assert host.is_enabled("echo")


def test_another_sessions_token_does_not_flip_a_switch(host: RefHost, echo: EchoPlugin) -> None:
    theirs = token_of(signed_in(host).get("/plugins").text)
    mine = signed_in(host)
    answer = mine.post("/plugins", data={"csrf": theirs, "plugin": "echo", "enabled": "off"})
    assert answer.status_code == 403
    assert host.is_enabled("echo")


def test_staff_who_are_not_admins_cannot_flip_a_switch(host: RefHost, echo: EchoPlugin) -> None:
    client = signed_in(host, SAM)
    token = token_of(client.get("/plugins").text)  # the sign-out form's
    answer = client.post("/plugins", data={"csrf": token, "plugin": "echo", "enabled": "off"})
    assert answer.status_code == 403
    assert host.is_enabled("echo")


# -- the plugins' pages, mounted ---------------------------------------------------------------


def test_a_plugin_page_without_a_session_sends_a_get_to_sign_in_and_refuses_a_post(
    host: RefHost, echo: EchoPlugin
) -> None:
    client = browser(host)
    answer = client.get("/plugins/echo/page?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fplugins%2Fecho%2Fpage%3Fx%3D1"
    assert client.post("/plugins/echo/page").status_code == 401
    assert echo.calls == 0


def test_the_mounted_app_gets_the_visitor_practice_links_and_its_prefix_as_root_path(
    host: RefHost, echo: EchoPlugin
) -> None:
    answer = signed_in(host).get("/plugins/echo/deep/page")
    assert answer.status_code == 200
    assert "user=alex admin=True practice=practice-7" in answer.text
    assert "root=/plugins/echo path=/plugins/echo/deep/page" in answer.text
    assert "('home', '/'), ('logout', '/logout'), ('plugins', '/plugins')" in answer.text
    assert "router=False" in answer.text  # nothing of the host's own routing leaks in
    staff = signed_in(host, SAM).get("/plugins/echo/x")
    assert "user=sam admin=False" in staff.text


def test_the_mount_point_itself_leads_into_the_plugins_pages(
    host: RefHost, echo: EchoPlugin
) -> None:
    answer = signed_in(host).get("/plugins/echo")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/plugins/echo/"


def test_a_switched_off_plugins_pages_are_the_hosts_notice_and_its_app_is_not_called(
    host: RefHost, echo: EchoPlugin
) -> None:
    host.disable_plugin("echo")
    client = signed_in(host)
    for answer in (client.get("/plugins/echo/page"), client.post("/plugins/echo/page")):
        assert answer.status_code == 409
        assert "switched off" in answer.text
        assert 'href="/plugins"' in answer.text
    assert echo.calls == 0


def test_web_app_is_asked_once_and_only_of_a_plugin_that_is_on(
    host: RefHost, echo: EchoPlugin
) -> None:
    host.disable_plugin("echo")
    front = WebFront(host)
    client = browser(host, front=front)
    client.post("/login", data={"user": "alex", "password": "password"})
    client.get("/plugins")
    assert echo.web_app_calls == 0
    host.enable_plugin("echo")
    for _ in range(3):
        assert client.get("/plugins/echo/").status_code == 200
    assert echo.web_app_calls == 1


def test_a_plugin_whose_web_app_raises_leaves_the_host_serving(host: RefHost) -> None:
    class Broken:
        @hookimpl
        def web_app(self) -> Any:
            raise RuntimeError("boom")

    host.register(Broken(), name="broken")
    host.start()
    client = signed_in(host)
    assert client.get("/plugins").status_code == 200
    assert client.get("/plugins/broken/").status_code == 404
    assert any(f.hook == "web_app" and f.plugin == "broken" for f in host.hook_failures)


def test_no_such_plugin_is_404(host: RefHost, echo: EchoPlugin) -> None:
    assert signed_in(host).get("/plugins/nothing/").status_code == 404


def test_the_addons_pages_through_the_real_mount_admin_200_staff_403(with_xero: RefHost) -> None:
    admin = signed_in(with_xero).get("/plugins/xero/dashboard")
    assert admin.status_code == 200, admin.text
    links = re.findall(r'(?:href|action|src)="(?:http://testserver)?(/[^"]*)"', admin.text)
    own = [link for link in links if link not in ("/plugins", "/logout", "/")]
    assert own, admin.text
    assert all(link.startswith("/plugins/xero/") for link in own), own
    assert signed_in(with_xero, SAM).get("/plugins/xero/dashboard").status_code == 403
    assert signed_in(with_xero).get("/plugins/xero/").status_code in (303, 307)


def test_the_page_services_save_through_the_host_and_lend_nothing_to_staff(
    with_xero: RefHost,
) -> None:
    admin = HostPageServices(with_xero, Visitor("alex", "Alex", True))
    staff = HostPageServices(with_xero, Visitor("sam", "Sam", False))
    assert admin.is_enabled("xero")
    assert staff.is_enabled("xero")
    assert staff.save_settings("xero", {}) == ["only an admin may change a plugin's settings"]
    with pytest.raises(PermissionError):
        staff.set_enabled("xero", False)
    assert with_xero.is_enabled("xero")
    admin.set_enabled("xero", False)
    assert not with_xero.is_enabled("xero")
    assert admin.save_settings("xero", {}) == with_xero.save_plugin_settings("xero", {})


# -- serving -------------------------------------------------------------------------------


def test_serve_web_serves_on_loopback_until_shut_down(host: RefHost, echo: EchoPlugin) -> None:
    with serve_web(host, port=0, staff=[Staff("pat", "Pat", "pw", is_admin=True)]) as web:
        assert web.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=web.url) as client:
            assert client.post("/login", data={"user": "pat", "password": "pw"}).status_code == 303
            assert "user=pat" in client.get("/plugins/echo/x").text
    with pytest.raises(httpx.TransportError):
        httpx.get(web.url + "/login", timeout=1)


def test_a_busy_port_is_one_clear_error(host: RefHost) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(PortBusy, match=f"port {port} on 127.0.0.1 is already in use"):
            serve_web(host, port=port)
        with pytest.raises(PortBusy):
            bind_loopback(port)


def test_the_hosts_own_pages_are_never_cached_nor_framed(host: RefHost) -> None:
    client = browser(host)
    for answer in (client.get("/login"), signed_in(host).get("/plugins")):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_a_sign_in_posted_from_another_site_is_refused(host: RefHost) -> None:
    creds = {"user": "alex", "password": "password"}
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
        answer = browser(host).post("/login", data=creds, headers=headers)
        assert answer.status_code == 403
        assert "set-cookie" not in answer.headers
    same = browser(host).post("/login", data=creds, headers={"origin": "http://testserver"})
    assert same.status_code == 303


def test_staff_get_403_on_the_addons_actions_through_the_real_mount(with_xero: RefHost) -> None:
    admin_page = signed_in(with_xero).get("/plugins/xero/settings")
    token = re.search(r'name="csrf" value="([^"]+)"', admin_page.text)
    assert token is not None
    staff = signed_in(with_xero, SAM)
    answer = staff.post("/plugins/xero/settings", data={"csrf": token.group(1)})
    assert answer.status_code == 403


def test_a_sign_in_from_an_opaque_origin_is_refused(host: RefHost) -> None:
    answer = browser(host).post(
        "/login", data={"user": "alex", "password": "password"}, headers={"Origin": "null"}
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_signing_in_again_ends_the_previous_session(host: RefHost) -> None:
    client = signed_in(host)
    first = client.cookies[COOKIE]
    again = client.post("/login", data={"user": "alex", "password": "password"})
    assert again.status_code == 303
    assert client.cookies[COOKIE] != first
    old = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    old.cookies.set(COOKIE, first)  # the same front, holding the first sign-in's cookie
    assert old.get("/plugins").headers.get("location", "").startswith("/login")


def test_a_served_front_answers_only_its_loopback_names(host: RefHost) -> None:
    from hookspecs.refhost.web.server import LOOPBACK_NAMES

    front = WebFront(host, allowed_hosts=LOOPBACK_NAMES)
    rebound = TestClient(front, base_url="http://evil.example", follow_redirects=False)
    answer = rebound.post("/login", data={"user": "alex", "password": "password"})
    assert answer.status_code == 400
    local = TestClient(front, base_url="http://127.0.0.1:8000", follow_redirects=False)
    assert local.post("/login", data={"user": "alex", "password": "password"}).status_code == 303
