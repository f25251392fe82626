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


def test_the_money_flows_link_to_their_own_collections_and_carry_their_own_prefix() -> None:
    from pm_xero_plugin.inputs.settings import Prefixes
    from pm_xero_plugin.pages.record_view import number_label
    from pm_xero_plugin.pages.xero_links import sandbox_link, xero_link

    some_id = "0b9f7c58-0d3a-4e0b-9b8e-5d0a7f0c1a11"
    root = "http://127.0.0.1:9"
    assert sandbox_link(root, "deposit", some_id) == f"{root}/sandbox/view/prepayments/{some_id}"
    assert sandbox_link(root, "payout", some_id) == f"{root}/sandbox/view/banktransfers/{some_id}"
    assert (
        sandbox_link(root, "deposit_refund", some_id) == f"{root}/sandbox/view/payments/{some_id}"
    )
    assert sandbox_link(root, "deposit_allocation", some_id) is None  # lives on its prepayment
    assert xero_link("payout_fee", some_id) is not None
    assert xero_link("payout", some_id) is None  # no page of Xero's known to take the id
    prefixes = Prefixes()
    assert number_label("deposit", 3, prefixes) == "DEP3"
    assert number_label("overpayment_refund", 2, prefixes) == "RF2"
    assert number_label("payout_fee", 5, prefixes) == "PO5"
