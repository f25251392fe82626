"""The practice both hook benches time their hooks against: a reference host with the add-on
loaded through its real pluggy ``PluginManager``, settings saved, both organisations connected
with their codes checked (so a hook takes the full rule path) and the contact sync started."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.synth import TENANTS, SynthHost, settings_for

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.core.engine import Engine

__all__ = ["hook_practice"]


@contextmanager
def hook_practice(root: Path, synth: SynthHost) -> Iterator[tuple[RefHost, Engine]]:
    """The host and the add-on's engine, stopped and closed on the way out. No Xero app is
    configured: nothing is sent, so only what a staff member's save pays is timed."""
    for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET"):
        os.environ.pop(name, None)
    from hookspecs.refhost import ManualClock, RefHost
    from pm_xero_plugin import plugin

    host = RefHost(
        root, clock=ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC)), load_entrypoints=False
    )
    host.register(plugin, name="xero")
    for location in synth.locations():
        host.add_location(location)
    host.start()
    try:
        errors = host.save_plugin_settings("xero", settings_for())
        if errors:
            raise RuntimeError(f"settings refused: {errors}")
        engine = plugin.get_engine()
        if engine is None:
            raise RuntimeError("the add-on did not start")
        for tenant in TENANTS.values():  # as after "Connect to Xero": the full rule path
            engine.ledger.set_tenant(tenant, connected=1, codes_state="ok")
        engine.reevaluate()
        for i in range(2):
            host.save_client(synth.client(i))
        host.start_contact_sync(None)
        yield host, engine
    finally:
        host.stop()
        host.close()
