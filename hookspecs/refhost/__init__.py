"""A reference Pet Manager host that plugin authors (and this project's tests and demo) can run.

What :mod:`pytester` is to pytest, this is to the ``pet_manager`` hook contract::

    from hookspecs.refhost import ManualClock, RefHost, generate_practice

    clock = ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc))
    host = RefHost(tmp_path, clock=clock, load_entrypoints=False)
    host.register(my_plugin, name="mine")
    generate_practice(host, seed=1)            # two years of history, no hooks fired
    host.start()                                # pm_startup(host=host)
    host.create_invoice({...})                  # stored, then on_invoice_created
    host.stop()                                 # pm_shutdown()

pytest fixtures (``refhost``, ``refhost_clock``, ``register_plugin``) and a ``RecordingPlugin``
live in :mod:`hookspecs.refhost.testing`, which is the only part that needs pytest.
"""

from __future__ import annotations

from hookspecs.calling import HookFailure, PluginLoadFailure
from hookspecs.refhost.clock import Clock, ManualClock, SystemClock, local_date
from hookspecs.refhost.generator import (
    PracticeSummary,
    generate_practice,
    live_day,
    simulate_days,
)
from hookspecs.refhost.host import RefHost
from hookspecs.refhost.money import document_total

__all__ = [
    "Clock",
    "HookFailure",
    "ManualClock",
    "PluginLoadFailure",
    "PracticeSummary",
    "RefHost",
    "SystemClock",
    "document_total",
    "generate_practice",
    "live_day",
    "local_date",
    "simulate_days",
]
