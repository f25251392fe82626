"""A running practice for the admin actions and the pages: the CLI's small practice (see
:mod:`support.cli_practice`) kept running, with one failed invoice, one payment held before the
start date, one synced invoice and one contact held on a name Xero gives to another; and a Xero
runtime on the in-process sandbox for the actions that reach Xero (refresh, disconnect)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from hookspecs.refhost import RefHost
from pm_xero_plugin.core.engine import Engine
from pm_xero_plugin.ledger import Ledger, Row
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime
from support.cli_practice import contact_synced_host

THEIR_CONTACT = {
    "ContactID": "3f1e6c7a-2b4d-4e8f-9a10-1b2c3d4e5f60",
    "Name": "Ann Lee3 (C3)",
    "ContactNumber": None,
}


@dataclass
class Running:
    """The running practice and the rows the tests act on."""

    host: RefHost
    engine: Engine
    failed_row: int
    held_row: int
    synced_row: int
    clash_row: int
    """Contact c3 in T2, held behind ``contact_name_taken`` with :data:`THEIR_CONTACT`."""


MATCHED = {"matched": "ContactNumber", "key": "C2", "decided_by": ["ContactNumber"]}
"""What the sender records on a contact it found in Xero by its number (c2 here)."""


def _answer(led: Ledger, row: Row) -> None:
    """Xero's answer to one row, as the play worker gives it."""
    led.mark_sent([row.id], f"k{row.id}")
    if (row.kind, row.host_id) == ("invoice", "i3"):
        led.mark_failed(row.id, "Account code '999' is not a valid code", field="AccountCode")
    elif (row.kind, row.host_id) == ("contact", "c3"):
        said = "The contact name Ann Lee3 (C3) is already assigned."
        led.hold_contact(row.id, said, THEIR_CONTACT)
    elif (row.kind, row.host_id) == ("contact", "c2"):
        led.add_log(row.id, "matched", "C2 found in Xero as X-contact-c2: ours by ContactNumber")
        led.mark_synced(row.id, "X-contact-c2", MATCHED)
    else:
        led.mark_synced(row.id, f"X-{row.kind}-{row.host_id}")


def _play(host: RefHost, led: Ledger) -> None:
    """What a worker would do, without Xero: invoice i3 fails, contact c3 is held on its name,
    c2 is found in Xero by its number, everything else is synced."""
    for _ in range(6):
        moved = 0
        now = host.now()
        for tenant in led.tenants_with_ready_work(now):
            for kind in (
                "contact",
                "invoice",
                "credit_note",
                "allocation",
                "payment",
                "overpayment",
            ):
                for row in led.claim(tenant, kind, worker_id="test", now=now):
                    _answer(led, row)
                    moved += 1
        if not moved:
            return


@contextmanager
def running_practice(root: Path) -> Iterator[Running]:
    """The practice running for the block (the add-on's engine live), then stopped."""
    with contact_synced_host(root) as (host, engine):
        host.backfill(None, None)
        led = engine.ledger
        _play(host, led)
        found = {
            key: led.find(*key)
            for key in (
                ("invoice", "i3", "T1"),
                ("payment", "p1:i1", "T1"),
                ("invoice", "i2", "T1"),
                ("contact", "c3", "T2"),
            )
        }
        rows = {key[1]: row.id for key, row in found.items() if row is not None}
        assert len(rows) == 4, found
        yield Running(host, engine, rows["i3"], rows["p1:i1"], rows["i2"], rows["c3"])


@dataclass
class Connected:
    """A Xero runtime on the sandbox for a running engine, its locations connected."""

    sandbox: Sandbox
    runtime: XeroRuntime
    tenants: list[str]


def connect(runtime: XeroRuntime, location_id: str, tenant_id: str) -> None:
    """ "Connect to Xero" for ``location_id`` through the sandbox's authorize page (which
    auto-consents), choosing ``tenant_id``."""
    answer = runtime.http.get(runtime.connect_url(location_id) + f"&tenant={tenant_id}")
    assert answer.status_code in (302, 303), answer.text
    runtime.complete_connect(dict(parse_qsl(urlsplit(answer.headers["location"]).query)))


@contextmanager
def sandbox_runtime(host: RefHost, engine: Engine) -> Iterator[Connected]:
    """A runtime (worker off) reaching a fresh in-process sandbox of two organisations."""
    sandbox = Sandbox()
    config = AppConfig(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        url="http://sandbox.test",
        worker="off",
    )
    runtime = XeroRuntime(
        engine,
        config,
        secret=host.secret("xero"),
        data_dir=host.data_dir("xero"),
        transport=sandbox.transport(),
    )
    try:
        yield Connected(sandbox, runtime, list(sandbox.tenant_ids))
    finally:
        runtime.stop()


@dataclass
class SandboxPractice:
    """A fresh practice (Sydney and London, no records) whose locations are connected to the
    sandbox's organisations through the runtime, with codes picked from each chart."""

    host: RefHost
    engine: Engine
    xero: Connected
    tenants: dict[str, str]
    """location id -> tenant id"""


@contextmanager
def sandbox_practice(root: Path, plan: dict[str, int]) -> Iterator[SandboxPractice]:
    """Locations connected as ``plan`` says (location id -> index of a sandbox organisation)
    and saved in the settings; the host stopped afterwards."""
    from hookspecs.refhost import ManualClock
    from pm_xero_plugin import plugin
    from support.cli_practice import settings
    from support.ledger_helpers import LONDON, START, SYDNEY
    from support.reliability_practice import codes_from_chart

    host = RefHost(root, clock=ManualClock(START), load_entrypoints=False)
    host.add_location(SYDNEY)
    host.add_location(LONDON)
    host.register(plugin, name="xero")
    host.start()
    try:
        engine = plugin.get_engine()
        assert engine is not None
        with sandbox_runtime(host, engine) as xero:
            tenants = {loc: xero.tenants[index] for loc, index in plan.items()}
            for loc, tenant in tenants.items():
                connect(xero.runtime, loc, tenant)
            saved = settings(tenants)
            saved["account_codes"] = {
                t: codes_from_chart(xero.runtime, t) for t in sorted(set(tenants.values()))
            }
            assert host.save_plugin_settings("xero", saved) == []
            xero.runtime.refresh_connections()
            yield SandboxPractice(host, engine, xero, tenants)
    finally:
        host.stop()
