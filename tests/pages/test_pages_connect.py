"""Connect to Xero from the settings page: the OAuth round trip through the sandbox, one
organisation linked at once, several chosen on a page, and every failure said in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pages_practice import PagesPractice, pages_practice


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
