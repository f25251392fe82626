"""The reference host's mounts and a plugin's public paths: exactly those paths reach the app
without a session (a PublicContext, no visitor, no cookie), every other path – however it is
spelt – still needs the sign-in, and a plugin switched off answers a plain 503."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hookspecs import hookimpl
from hookspecs.pages import SCOPE_KEY, PageContext, PluginApp, PublicContext, Receive, Scope, Send
from hookspecs.refhost import ManualClock, RefHost, serve_web
from hookspecs.refhost.web import WebFront
from hookspecs.refhost.web.sessions import COOKIE

HOOK = "/hooks/provider"
MOUNTED = f"/plugins/echo{HOOK}"


class HookPlugin:
    """A plugin with one public path: its app says which context the host gave it."""

    def __init__(self, public_paths: Any = (HOOK,)) -> None:
        self.public_paths = public_paths
        self.seen: list[Scope] = []

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope)
        context = scope.get(SCOPE_KEY)
        kind = type(context).__name__
        practice = getattr(context, "practice_id", None)
        body = f"{kind} practice={practice} path={scope['path']} root={scope['root_path']}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    @hookimpl
    def web_app(self) -> PluginApp:
        return PluginApp(name="echo", title="Echo", app=self.app, public_paths=self.public_paths)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RefHost]:
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)),
        load_entrypoints=False,
        practice_id="practice-7",
    )
    try:
        yield host
    finally:
        host.stop()
        host.close()


@pytest.fixture
def hook(host: RefHost) -> HookPlugin:
    plugin = HookPlugin()
    host.register(plugin, name="echo")
    host.start()
    return plugin


def browser(host: RefHost, front: WebFront | None = None) -> TestClient:
    return TestClient(front or WebFront(host), base_url="http://testserver", follow_redirects=False)


def signed_in(host: RefHost, front: WebFront | None = None) -> TestClient:
    client = browser(host, front)
    assert client.post("/login", data={"user": "alex", "password": "password"}).status_code == 303
    return client


async def _call(
    app: Any, method: str, path: str, raw_path: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent = [{"type": "http.request", "body": b"{}", "more_body": False}]
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return sent.pop() if sent else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message.get("headers", []))
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


def raw_request(
    host: RefHost, method: str, path: str, raw_path: bytes | None = None, **headers: str
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight into the web front's ASGI app, the path exactly as given (an HTTP
    client would normalise ``..`` away before sending it)."""
    import anyio

    encoded = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    raw = raw_path if raw_path is not None else path.encode()
    return anyio.run(_call, WebFront(host), method, path, raw, encoded)


# -- exactly the public paths, without a session ---------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "DELETE", "PATCH"])
def test_a_public_path_reaches_the_app_without_a_session_with_a_public_context(
    host: RefHost, hook: HookPlugin, method: str
) -> None:
    answer = browser(host).request(method, MOUNTED, content=b"{}")
    assert answer.status_code == 200
    assert answer.text == f"PublicContext practice=practice-7 path={MOUNTED} root=/plugins/echo"
    (scope,) = hook.seen
    assert isinstance(scope[SCOPE_KEY], PublicContext)
    assert not hasattr(scope[SCOPE_KEY], "visitor")
    assert "router" not in scope


def test_a_session_coming_along_is_not_passed_on(host: RefHost, hook: HookPlugin) -> None:
    client = signed_in(host)
    answer = client.post(MOUNTED, content=b"{}")
    assert answer.status_code == 200
    assert answer.text.startswith("PublicContext ")
    (scope,) = hook.seen
    assert all(name.lower() != b"cookie" for name, _ in scope["headers"])
    assert client.cookies.get(COOKIE)  # the session itself is untouched
    assert client.get("/plugins/echo/page").text.startswith("PageContext ")


def test_every_other_path_still_needs_the_sign_in(host: RefHost, hook: HookPlugin) -> None:
    client = browser(host)
    page = client.get("/plugins/echo/page")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    assert client.post("/plugins/echo/page", content=b"{}").status_code == 401
    assert client.get("/plugins/echo/").status_code == 303
    assert hook.seen == []


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (f"{MOUNTED}/../page", None),  # dot segments, sent as they are
        (f"{MOUNTED}/..", None),
        ("/plugins/echo/hooks/./provider", None),
        (f"{MOUNTED}/", None),  # a trailing slash
        (f"{MOUNTED}X", None),  # a longer name
        (f"{MOUNTED}/more", None),  # below it
        ("/plugins/echo/hooks", None),  # above it
        ("/plugins/echo//hooks/provider", None),  # an empty segment
        ("/plugins/echoX/hooks/provider", None),  # another mount
        ("/plugins/echo/HOOKS/provider", None),  # another case
        (f"{MOUNTED}\n", None),  # a newline a "$" would have let through
        (f"{MOUNTED}/../page", b"/plugins/echo/hooks/provider%2F..%2Fpage"),  # encoded slashes
        (MOUNTED, b"/plugins/echo/hooks/%70rovider"),  # an encoded spelling of the path itself
        (MOUNTED, b"/plugins/echo/hooks%2Fprovider"),
        (MOUNTED, b"/plugins/echo/hooks/provider/../provider"),  # a server that decoded ".."
    ],
)
def test_a_path_trick_still_needs_the_sign_in(
    host: RefHost, hook: HookPlugin, path: str, raw: bytes | None
) -> None:
    for method in ("POST", "GET"):
        status, headers, _ = raw_request(host, method, path, raw)
        if method == "GET":
            assert status in (303, 404), (path, raw, status)
            assert status == 404 or headers[b"location"].startswith(b"/login?next=")
        else:
            assert status in (401, 404), (path, raw, status)
    assert hook.seen == []


def test_a_plugin_switched_off_answers_a_public_path_with_a_plain_503(
    host: RefHost, hook: HookPlugin
) -> None:
    front = WebFront(host)
    client = browser(host, front)
    assert client.post(MOUNTED, content=b"{}").status_code == 200
    host.disable_plugin("echo")
    for method in ("POST", "GET"):
        answer = client.request(method, MOUNTED, content=b"{}")
        assert answer.status_code == 503
        assert "location" not in answer.headers
        assert answer.text == "The echo plugin is switched off."
    assert signed_in(host, front).post(MOUNTED, content=b"{}").status_code == 503
    assert len(hook.seen) == 1
    host.enable_plugin("echo")
    assert client.post(MOUNTED, content=b"{}").status_code == 200


def test_a_plugin_off_since_the_host_started_has_no_public_paths_yet(host: RefHost) -> None:
    """The host learns an app's public paths by asking for the app, which it does only for a
    plugin that is on: until then the path is answered as any other (the sign-in)."""
    plugin = HookPlugin()
    host.register(plugin, name="echo")
    host.start()
    host.disable_plugin("echo")
    front = WebFront(host)
    assert browser(host, front).post(MOUNTED, content=b"{}").status_code == 401
    host.enable_plugin("echo")
    assert browser(host, front).post(MOUNTED, content=b"{}").status_code == 200


@pytest.mark.parametrize(
    "paths", [("/hooks/provider/",), ("hooks/provider",), ("/hooks/../provider",), HOOK]
)
def test_an_entry_that_is_no_plain_path_opens_nothing(host: RefHost, paths: Any) -> None:
    """A trailing slash, no leading one, a dot segment – or one string instead of a tuple,
    whose every substring (``/hooks``) would otherwise be "in" it."""
    plugin = HookPlugin(public_paths=paths)
    host.register(plugin, name="echo")
    host.start()
    client = browser(host)
    for path in ("/plugins/echo/hooks/provider/", "/plugins/echo/hooks", "/plugins/echo/h"):
        assert client.post(path, content=b"{}").status_code == 401
    if isinstance(paths, str):
        assert client.post(MOUNTED, content=b"{}").status_code == 401
    assert plugin.seen == []


def test_is_public_is_exact_equality_with_a_plain_entry() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
        raise AssertionError

    contributed = PluginApp(name="x", title="X", app=app, public_paths=(HOOK, "/a/../b"))
    assert contributed.is_public(HOOK)
    for other in (f"{HOOK}/", f"{HOOK}X", "/hooks", "", "/", "/a/../b", HOOK.upper()):
        assert not contributed.is_public(other), other


# -- on the real server ----------------------------------------------------------------------------


def test_over_the_served_front_only_the_exact_path_goes_past_the_sign_in(
    host: RefHost, hook: HookPlugin
) -> None:
    with serve_web(host, port=0) as web:
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)

        def status(method: str, path: str) -> int:
            connection.request(method, path, body=b"{}", headers={"Host": "127.0.0.1"})
            answer = connection.getresponse()
            answer.read()
            return answer.status

        assert status("POST", MOUNTED) == 200
        for trick in (
            f"{MOUNTED}/../page",
            f"{MOUNTED}%2F..%2Fpage",
            "/plugins/echo/hooks/%70rovider",
            f"{MOUNTED}/",
            f"{MOUNTED}X",
        ):
            assert status("POST", trick) == 401, trick
        assert status("GET", "/plugins/echo/page") == 303
        connection.close()
    assert len(hook.seen) == 1
    assert isinstance(hook.seen[0][SCOPE_KEY], PublicContext)
    assert not isinstance(hook.seen[0][SCOPE_KEY], PageContext)
