"""The Pet Manager host's published plugin contract.

Plugin authors import the markers from here::

    from hookspecs import hookimpl

    @hookimpl
    def on_invoice_created(invoice):
        ...

and register their module under the ``pet_manager`` entry-point group. The hooks themselves are
documented in :mod:`hookspecs.spec`, the records the host passes in :mod:`hookspecs.records`, and
the services a plugin receives in :mod:`hookspecs.host`. A small but real reference host that a
plugin author can run lives in :mod:`hookspecs.refhost` (what ``pytester`` is to pytest).
"""

from __future__ import annotations

import pluggy

from hookspecs.calling import (
    HookFailure,
    PluginLoadFailure,
    call_each_plugin,
    load_entrypoint_plugins,
)
from hookspecs.host import HistoryKind, Host, Practices
from hookspecs.markers import PROJECT_NAME, hookimpl, hookspec
from hookspecs.records import (
    Address,
    Allocation,
    Client,
    CreditNote,
    Deposit,
    Invoice,
    LineItem,
    Location,
    Payment,
    Payout,
    Refund,
)


def plugin_manager() -> pluggy.PluginManager:
    """A :class:`pluggy.PluginManager` for the ``pet_manager`` project with every spec added.

    Hosts (and tests) call this, then :func:`hookspecs.calling.load_entrypoint_plugins` (one
    plugin at a time, so one broken add-on cannot stop the host starting), and call every hook
    through :func:`hookspecs.calling.call_each_plugin` (so one plugin that raises cannot stop the
    others being called).
    """
    from hookspecs import spec

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(spec)
    return pm


__all__ = [
    "PROJECT_NAME",
    "Address",
    "Allocation",
    "Client",
    "CreditNote",
    "Deposit",
    "HistoryKind",
    "HookFailure",
    "Host",
    "Invoice",
    "LineItem",
    "Location",
    "Payment",
    "Payout",
    "PluginLoadFailure",
    "Practices",
    "Refund",
    "call_each_plugin",
    "hookimpl",
    "hookspec",
    "load_entrypoint_plugins",
    "plugin_manager",
]
