"""The installed distribution registers the Xero add-on the way any host loads plugins.

Written against pluggy's own loader on purpose (the reference host loads entry points one by one
so that a broken plugin cannot stop it; a production host may well use pluggy's loader as is).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import hookspecs
from hookspecs.refhost import RefHost


def test_the_distribution_declares_xero_in_the_pet_manager_group() -> None:
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pet_manager")}
    assert eps.get("xero") == "pm_xero_plugin.plugin"


def test_pluggys_own_loader_registers_xero_and_every_hookimpl_matches_a_spec() -> None:
    pm = hookspecs.plugin_manager()
    pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    plugin = pm.get_plugin("xero")
    assert plugin is not None
    assert getattr(plugin, "__name__", None) == "pm_xero_plugin.plugin"
    pm.check_pending()
    implemented = {
        name for name in hookspecs.spec.__all__ if getattr(pm.hook, name).get_hookimpls()
    }
    assert {"pm_startup", "pm_shutdown", "on_invoice_created", "sync_status"} <= implemented


def test_the_reference_host_loads_xero_without_failures(tmp_path: Path) -> None:
    host = RefHost(tmp_path, load_entrypoints=True)
    try:
        assert [f for f in host.plugin_load_failures if f.plugin == "xero"] == []
        assert "xero" in host.plugin_names()
    finally:
        host.close()
