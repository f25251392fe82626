"""A reference Pet Manager host that plugin authors (and this project's tests and demo) can run.

What :mod:`pytester` is to pytest, this is to the ``pet_manager`` hook contract::

    from hookspecs.refhost import ManualClock, RefHost, generate_practice

    clock = ManualClock(datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc))
    host = RefHost(tmp_path, clock=clock, load_entrypoints=False)
    host.register(my_plugin, name="mine")
    generate_practice(host, seed=1)            # two years of history, no hooks fired
    host.start()                                # pm_startup(host=host)
    host.create_invoice({...})                  # stored, then on_invoice_created
    host.record_deposit({...})                  # on_deposit_recorded (again when applied)
    host.record_refund({...}); host.record_payout({...})  # on_refund/on_payout_recorded
    host.stop()                                 # pm_shutdown()

``generate_practice(host, seed=1, money_flows=True)`` adds what a pet resort's money also does:
card payouts with their fees, booking deposits, refunds and gift vouchers
(:mod:`hookspecs.refhost.money_flows`); ``simulate_days(..., money_flows=True)`` carries them on.

``serve_web(host)`` serves its web front (sign-in, plugin list, the plugins' pages) on loopback:
:mod:`hookspecs.refhost.web`.

pytest fixtures (``refhost``, ``refhost_clock``, ``register_plugin``) and a ``RecordingPlugin``
live in :mod:`hookspecs.refhost.testing`, which is the only part that needs pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookspecs.calling import HookFailure, PluginLoadFailure
from hookspecs.refhost.clock import Clock, ManualClock, SystemClock, local_date
from hookspecs.refhost.fleet import RefFleet
from hookspecs.refhost.generator import (
    PracticeSummary,
    generate_practice,
    live_day,
    simulate_days,
)
from hookspecs.refhost.host import RefHost
from hookspecs.refhost.money import document_total

if TYPE_CHECKING:
    from hookspecs.refhost.web import RunningWeb, Staff, serve_web

__all__ = [
    "Clock",
    "HookFailure",
    "ManualClock",
    "PluginLoadFailure",
    "PracticeSummary",
    "RefFleet",
    "RefHost",
    "RunningWeb",
    "Staff",
    "SystemClock",
    "document_total",
    "generate_practice",
    "live_day",
    "local_date",
    "serve_web",
    "simulate_days",
]

_WEB = frozenset({"RunningWeb", "Staff", "serve_web"})


def __getattr__(name: str) -> Any:
    """The web front's names (:mod:`hookspecs.refhost.web`), imported when first asked for: it
    brings Starlette and uvicorn, which a host without pages never needs."""
    if name in _WEB:
        from hookspecs.refhost import web

        return getattr(web, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
