"""A practice for the page tests: a reference host with three locations, the add-on started
against a sandbox served on loopback, and the pages under Starlette's TestClient.

The runtime's redirect URI is the pages' own callback as the TestClient sees it
(:data:`CALLBACK`), registered with the sandbox's app, so "Connect to Xero" goes the whole way:
the page's 303 to the sandbox's authorize URL, the sandbox's 302 back with the code, the
callback completing the flow. :meth:`PagesPractice.connect` walks it as a browser would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from hookspecs.pages import Visitor
from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sandbox.identity import DEFAULT_REDIRECT_URIS
from support.addon_parts import running_engine, running_runtime
from support.pages_world import ADMIN, client_for, csrf_of

CALLBACK = "http://testserver/connect/callback"
"""The pages' OAuth redirect URI under the TestClient (mounted at ``/``)."""

LOCATIONS = (
    {"id": "loc-syd", "name": "Sydney", "timezone": "Australia/Sydney"},
    {"id": "loc-mel", "name": "Melbourne", "timezone": "Australia/Melbourne"},
    {"id": "loc-bne", "name": "Brisbane", "timezone": "Australia/Brisbane"},
)


@dataclass
class PagesPractice:
    """The host, the sandbox it is connected to, and ways in for a browser-less admin."""

    host: RefHost
    sandbox: Sandbox
    sandbox_url: str

    def client(self, visitor: Visitor | None = ADMIN) -> TestClient:
        """The pages as ``visitor`` sees them."""
        return client_for(self.host, visitor)

    @property
    def runtime(self) -> Any:
        """The add-on's Xero side (asserted present: the app is configured)."""
        return running_runtime(self.host)

    @property
    def engine(self) -> Any:
        """The add-on's engine (asserted started)."""
        return running_engine(self.host)

    @property
    def organisations(self) -> list[str]:
        """The sandbox's seeded organisations (tenant ids), in order."""
        return list(self.sandbox.seeded)

    def press_connect(self, client: TestClient, location_id: str) -> str:
        """Press Connect to Xero on the location's tab; returns the authorize URL it sends to."""
        page = client.get("/settings", params={"location": location_id}).text
        pressed = client.post(f"/connect/{location_id}", data={"csrf": csrf_of(page)})
        assert pressed.status_code == 303, pressed.text
        authorize = pressed.headers["location"]
        assert authorize.startswith(self.sandbox_url), authorize
        return authorize

    def consent(
        self,
        client: TestClient,
        location_id: str,
        tenants: str | None,
        *,
        on_page: bool = False,
    ) -> str:
        """Press Connect to Xero and let the sandbox consent (to ``tenants``, comma-separated;
        ``None``: every organisation) – at once, or ``on_page`` ticking them on its consent page
        as a browser does; returns the callback path and query it redirects to."""
        authorize = self.press_connect(client, location_id)
        with httpx.Client(timeout=10.0) as browser:
            if on_page:
                shown = browser.get(authorize, headers={"Accept": "text/html"})
                assert "wants access to your organisation" in shown.text, shown.text
                ticked = (tenants or ",".join(self.organisations)).split(",")
                answer = browser.post(
                    authorize,
                    data={"tenant": ticked, "action": "allow"},
                    headers={"Accept": "text/html"},
                )
            else:
                if tenants is not None:
                    authorize += f"&tenant={tenants}"
                answer = browser.get(authorize, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        back = answer.headers["location"]
        assert back.startswith(CALLBACK), back
        parts = urlsplit(back)
        return f"{parts.path}?{parts.query}"

    def connect(
        self, location_id: str, tenants: str | None, client: TestClient | None = None
    ) -> httpx.Response:
        """The whole round trip for one location; returns the callback's answer – or, when
        Xero's connections list more organisations than ``tenants`` names one of (an app already
        connected to others), the answer to choosing it on the page that asks."""
        client = client or self.client()
        answer = client.get(self.consent(client, location_id, tenants))
        where = answer.headers.get("location", "")
        if "/connect/choose" not in where or tenants is None or "," in tenants:
            return answer
        page = client.get(where).text
        return client.post(
            "/connect/choose",
            data={"csrf": csrf_of(page), "location_id": location_id, "tenant_id": tenants},
        )


def pages_practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagesPractice]:
    """Build the practice (a generator for a fixture: stops the host and the sandbox after)."""
    sandbox = Sandbox(orgs=2, seed=3, redirect_uris=(*DEFAULT_REDIRECT_URIS, CALLBACK))
    server = sandbox.serve(port=0)
    monkeypatch.setenv("PM_XERO_URL", server.url)
    monkeypatch.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", sandbox.client_secret)
    monkeypatch.setenv("PM_XERO_REDIRECT_URI", CALLBACK)
    monkeypatch.setenv("PM_XERO_WORKER", "off")
    host = RefHost(
        tmp_path / "pm",
        clock=ManualClock(datetime(2025, 3, 3, tzinfo=UTC)),
        load_entrypoints=False,
    )
    for location in LOCATIONS:
        host.add_location({**location, "currency": "AUD", "country": "AU"})
    host.register(plugin, name="xero")
    host.start()
    try:
        yield PagesPractice(host=host, sandbox=sandbox, sandbox_url=server.url)
    finally:
        host.stop()
        host.close()
        server.shutdown()


class _FormReader(HTMLParser):
    """The fields of one ``<form id=…>`` as a browser would post them, and each select's
    options (value, label)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.options: dict[str, list[tuple[str, str]]] = {}
        self._select: str | None = None
        self._selected: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._selected = a.get("name"), None
            self.options[a.get("name", "")] = []
        elif tag == "option" and self._select is not None:
            self._option = a.get("value", "")
            self.options[self._select].append((self._option, ""))
            if "selected" in a:
                self._selected = self._option

    def handle_data(self, data: str) -> None:
        if self._select is not None and self._option is not None:
            value, label = self.options[self._select][-1]
            self.options[self._select][-1] = (value, label + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = self._selected
            if chosen is None:
                first = self.options[self._select]
                chosen = first[0][0] if first else ""
            self.fields.append((self._select, chosen))
            self._select = None
        elif tag == "form" and self.inside:
            self.inside = False


def read_form(html: str, form_id: str = "settings-form") -> _FormReader:
    """What the form would post as it is shown (``.fields``) and its selects' ``.options``."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader


def posted(
    fields: list[tuple[str, str]], changes: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """``fields`` as a form body (each name with its values in order), ``changes`` replacing
    a field's values."""
    out: dict[str, list[str]] = {}
    for name, value in fields:
        out.setdefault(name, []).append(value)
    for name, value in (changes or {}).items():
        out[name] = [value]
    return out
