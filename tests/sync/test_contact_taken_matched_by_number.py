"""A contact whose create Xero refuses because its name is taken is linked when Xero holds a
contact carrying our number – looked up by number, not only by name – and held otherwise.

Against the sandbox: a fresh ledger over an organisation that already holds our customers meets
them here when Xero reports the name clash (it lists every error of an element, the name's
among them), and the contact that carries our number need not be the one with the name (a
bookkeeper renamed ours; someone typed a second one by hand).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.xero_client_fakes import CONN
from support.xero_sandbox_client import SPEC, Connected, connected_sandbox

from pm_xero_plugin.sandbox.spec_location import spec_missing_reason
from pm_xero_plugin.sync.dedupe import Deduper
from pm_xero_plugin.sync.prepare import Prepared
from pm_xero_plugin.sync.settle import BatchOutcome, Settler

pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_missing_reason())

NOW = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)
TAKEN = (
    "The contact name Rohan White (C10) is already assigned to another contact. "
    "The contact name must be unique across all active contacts."
)


@pytest.fixture
def connected(tmp_path: Path) -> Iterator[Connected]:
    yield from connected_sandbox(tmp_path)


@dataclass
class Row:
    id: int
    kind: str = "contact"
    host_id: str = "c-10"
    payload: dict[str, Any] = field(default_factory=dict)
    tenant_id: str = ""
    location_id: str = "syd"
    xero_id: str | None = None
    attempts: int = 1
    operation: str = "create"
    uncertain: bool = False
    xero_name: str | None = None


@dataclass
class Ledger:
    """Records the transitions the deduper asks for (the sandbox is the real thing here)."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name not in ("mark_synced", "hold_contact", "add_log", "mark_retrying", "mark_failed"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, args))

    def settled(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(name, args) for name, args in self.calls if name != "add_log"]


def made(c: Connected, element: dict[str, Any], key: str) -> str:
    [result] = c.client.send_batch(
        c.tenant_id, CONN, "PUT", "Contacts", [element], idempotency_key=key
    )
    assert result.ok, result.errors
    assert result.xero_id is not None
    return result.xero_id


def refused(c: Connected, ledger: Ledger) -> BatchOutcome:
    deduper = Deduper(
        ledger,  # type: ignore[arg-type]
        c.client,
        Settler(
            ledger,  # type: ignore[arg-type]
            now=lambda: NOW,
            on_reconnect_required=lambda t, r: None,
            rng=random.Random(1),
        ),
        client_prefix=lambda tenant, p: "C",
        now=lambda: NOW,
    )
    ours = Prepared(
        Row(1, tenant_id=c.tenant_id),
        "PUT",
        {"Name": "Rohan White (C10)", "ContactNumber": "C10", "FirstName": "Rohan"},
        "C10",
    )
    outcome = BatchOutcome()
    deduper.hold_name_taken(c.tenant_id, CONN, [(ours, TAKEN)], outcome)
    return outcome


def test_a_name_clash_links_the_contact_that_carries_our_number(connected: Connected) -> None:
    c = connected
    renamed = made(c, {"Name": "Rohan W", "ContactNumber": "C10"}, "ours")
    made(c, {"Name": "Rohan White (C10)"}, "typed-by-hand")
    ledger = Ledger()

    outcome = refused(c, ledger)

    [(name, args)] = ledger.settled()
    assert (name, args[0], args[1]) == ("mark_synced", 1, renamed)
    assert args[2]["decided_by"] == ["ContactNumber"]
    assert outcome.synced == 1
    assert any(
        "ours by ContactNumber" in args[2] for name, args in ledger.calls if name == "add_log"
    )


def test_a_name_clash_with_no_contact_carrying_our_number_is_held(connected: Connected) -> None:
    c = connected
    theirs = made(c, {"Name": "Rohan White (C10)", "ContactNumber": "X-77"}, "another")
    ledger = Ledger()

    outcome = refused(c, ledger)

    [(name, args)] = ledger.settled()
    assert (name, args[0], args[1]) == ("hold_contact", 1, TAKEN)
    assert args[2]["ContactID"] == theirs
    assert outcome.waiting == 1
