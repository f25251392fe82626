"""A fleet root on disk: practices made by a reference host with the add-on, one after another,
each connected to its own organisations of one sandbox, then stopped – so the fleet worker meets
the root exactly as an operator's worker would (ready rows in every practice's ledger).

Each practice numbers its documents with its own tag (``P2INV3``), so a record of one practice
in another's organisation would be seen in the sandbox's books."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from support.admin_practice import connect
from support.cli_practice import fill, settings
from support.ledger_helpers import START
from support.reliability_practice import codes_from_chart

from hookspecs.refhost import ManualClock, RefHost
from pm_xero_plugin import plugin
from pm_xero_plugin.fleet.practices import FLEET_FILE, PRACTICES_DIR, PracticeOptions
from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime

OPEN_STATES = ("ready", "sending", "retrying")
SANDBOX_URL = "http://sandbox.test"


@dataclass
class FleetRoot:
    """A fleet root and the sandbox its practices are connected to."""

    root: Path
    sandbox: Sandbox
    config: AppConfig
    transport: httpx.BaseTransport | None
    tenants: dict[str, dict[str, str]] = field(default_factory=dict)
    """practice id -> location id -> tenant id."""

    @property
    def practice_ids(self) -> list[str]:
        return sorted(self.tenants)

    def tag(self, practice_id: str) -> str:
        return "P" + practice_id.rsplit("-", 1)[1]

    def options(self, **changes: Any) -> PracticeOptions:
        base: dict[str, Any] = {"host_clock": ManualClock(START)}
        return PracticeOptions(config=self.config, transport=self.transport, **{**base, **changes})

    def folder(self, practice_id: str) -> Path:
        return self.root / PRACTICES_DIR / practice_id

    def open_rows(self, practice_id: str) -> int:
        from pm_xero_plugin.core.gates import open_ledger

        led = open_ledger(self.folder(practice_id) / "plugins" / "xero" / "ledger.sqlite3")
        try:
            return sum(int(c["n"]) for c in led.counts() if c["state"] in OPEN_STATES)
        finally:
            led.close()

    def numbers_in(self, tenant_id: str) -> list[str]:
        """Every document number and payment reference in the organisation's books."""
        book = self.sandbox.inspect()[tenant_id]
        found = []
        for what, key in (
            ("invoices", "InvoiceNumber"),
            ("credit_notes", "CreditNoteNumber"),
            ("payments", "Reference"),
            ("contacts", "ContactNumber"),
        ):
            found += [str(item.get(key)) for item in book.get(what) or [] if item.get(key)]
        return found


class _LocationsThere:
    """The host for :func:`support.cli_practice.fill`, whose locations were added already (they
    had to be there to be connected)."""

    def __init__(self, host: RefHost) -> None:
        self._host = host

    def add_location(self, location: dict[str, Any]) -> None:
        """Already added."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)


def add_practice(fleet: FleetRoot, practice_id: str, tenants: dict[str, str]) -> None:
    """One practice made as its admin would: Sydney and London connected to ``tenants``' two
    organisations, settings saved with the practice's prefixes, the contact sync started, then
    the small practice's records entered (they wait, ready, for a worker); the host stopped."""
    folder = fleet.folder(practice_id)
    host = RefHost(
        folder, clock=ManualClock(START), load_entrypoints=False, practice_id=practice_id
    )
    host.register(plugin, name="xero")
    host.start()
    try:
        engine = plugin.get_engine()
        assert engine is not None, host.hook_failures
        runtime = XeroRuntime(
            engine,
            fleet.config,
            secret=host.secret("xero"),
            data_dir=host.data_dir("xero"),
            transport=fleet.transport,
        )
        try:
            from support.ledger_helpers import LONDON, SYDNEY

            host.add_location(SYDNEY)
            host.add_location(LONDON)
            for loc, tenant in tenants.items():
                connect(runtime, loc, tenant)
            saved = settings(tenants)
            saved["account_codes"] = {
                t: codes_from_chart(runtime, t) for t in sorted(set(tenants.values()))
            }
            tag = fleet.tag(practice_id)
            saved["prefixes"] = {
                "client": f"{tag}C",
                "invoice": f"{tag}INV",
                "credit_note": f"{tag}CN",
                "payment": f"{tag}PAY",
            }
            assert host.save_plugin_settings("xero", saved) == []
            runtime.refresh_connections()
            host.start_contact_sync(None)
            fill(_LocationsThere(host))  # type: ignore[arg-type]
        finally:
            runtime.stop()
    finally:
        host.stop()
    fleet.tenants[practice_id] = dict(tenants)


def make_fleet(
    root: Path,
    practices: int,
    *,
    transport: bool = True,
    url: str | None = None,
    sandbox: Sandbox | None = None,
) -> FleetRoot:
    """``practices`` practices of two organisations each, on one sandbox."""
    sandbox = sandbox or Sandbox(orgs=2 * practices)
    config = AppConfig(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        url=url or SANDBOX_URL,
        worker="off",
    )
    (root / PRACTICES_DIR).mkdir(parents=True)
    fleet = FleetRoot(root, sandbox, config, sandbox.transport() if transport else None)
    orgs = list(sandbox.tenant_ids)
    ids = [f"practice-{n}" for n in range(1, practices + 1)]
    for n, practice_id in enumerate(ids):
        add_practice(fleet, practice_id, {"syd": orgs[2 * n], "lon": orgs[2 * n + 1]})
    (root / FLEET_FILE).write_text(json.dumps({"practices": ids}))
    return fleet


def later(seconds: float) -> datetime:
    """``seconds`` after the practices recorded their rows (the worker's host clock)."""
    from datetime import timedelta

    return START + timedelta(seconds=seconds)
