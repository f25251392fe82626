"""The add-on's own app (as its ``web_app`` hook builds it) links records to the sandbox's view
of them when Xero is a Xero-compatible root (the sandbox), and not when it is the real Xero."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ledger_helpers import Practice
from support.pages_books import open_practice, synced_books
from support.pages_world import client_for

from pm_xero_plugin import plugin


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path) as books:
        yield books


class _Config:
    def __init__(self, url: str | None) -> None:
        self.url = url


class _Client:
    tenant_names: dict[str, str] = {}  # noqa: RUF012 - never written


class _Runtime:
    """What the dashboard reads of the runtime: where Xero is, and the organisations' names."""

    def __init__(self, url: str | None) -> None:
        self.config = _Config(url)
        self.client = _Client()


def test_records_link_to_the_sandbox_the_runtime_points_at(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = synced_books(practice, invoices=1)
    monkeypatch.setattr(plugin.get_addon(), "runtime", _Runtime("http://127.0.0.1:8765"))
    html = client_for(practice.host).get("/dashboard").text
    [xero_id] = ids.values()
    assert f"http://127.0.0.1:8765/sandbox/view/invoices/{xero_id}" in html


def test_no_sandbox_links_against_the_real_xero(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_books(practice, invoices=1)
    monkeypatch.setattr(plugin.get_addon(), "runtime", _Runtime(None))
    html = client_for(practice.host).get("/dashboard").text
    assert "/sandbox/view/" not in html
    assert "https://go.xero.com/" in html
