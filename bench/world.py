"""A practice connected to a loopback Xero sandbox, set up the way an admin would.

Shared by the API-calls/drain and the live-latency benchmarks: the reference host with the
plugin registered in its ``PluginManager``, a practice from the reference generator, the sandbox
served on loopback with Xero's real limits on a :class:`SandboxClock`, and the plugin's
:class:`~pm_xero_plugin.sync.runtime.XeroRuntime` built with a clock that reads the *sandbox's*
time,
so the rate limiter, the client's retries and the worker's scheduling think in sandbox seconds
(``time_scale`` sandbox seconds per real second). Locations connect through the real
authorisation-code redirect; account codes are chosen from each organisation's own chart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from hookspecs.refhost import RefHost
    from pm_xero_plugin.core.engine import Engine
    from pm_xero_plugin.sandbox import Sandbox, SandboxClock
    from pm_xero_plugin.sync.runtime import XeroRuntime

__all__ = ["SandboxTime", "World", "world"]

SANDBOX_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HISTORY_START = date(2025, 1, 1)
HISTORY_END = date(2025, 12, 31)


class SandboxTime:
    """The plugin's :class:`~pm_xero_plugin.xero.ratelimit.Clock`, reading the sandbox's clock:
    ``monotonic`` in sandbox seconds, ``sleep`` of sandbox seconds in scaled real time."""

    def __init__(self, clock: SandboxClock, time_scale: float) -> None:
        self._clock = clock
        self._scale = time_scale

    def monotonic(self) -> float:
        """The sandbox's clock, in seconds."""
        moment: datetime = self._clock.now()
        return moment.timestamp()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` sandbox seconds (scaled real time)."""
        if seconds > 0:
            time.sleep(seconds / self._scale)


class HostClock:
    """The host's clock is the sandbox's: leases and retry times run at the same scale."""

    def __init__(self, clock: SandboxClock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        moment: datetime = self._clock.now()
        return moment


@dataclass
class World:
    """The benchmark's practice: its sandbox and clock, the host, the add-on's engine and the
    benchmark's own Xero runtime (its worker not started)."""

    sandbox: Sandbox
    clock: SandboxClock
    host: RefHost
    engine: Engine
    runtime: XeroRuntime
    tenants: dict[str, str]
    """Location id -> tenant id."""
    url: str


def _connect(runtime: XeroRuntime, locations: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each location to its own organisation, through authorize → redirect → callback."""
    from pm_xero_plugin.demo import practice

    chosen: dict[str, str] = {}
    organisations: list[str] = []
    with httpx.Client(timeout=10.0) as browser:
        for index, loc in enumerate(locations):
            planned = organisations[index % len(organisations)] if organisations else None
            connections = practice.authorize(runtime, loc["id"], browser, planned)
            if not organisations:
                organisations = sorted(c.tenant_id for c in connections)
            wanted = organisations[index % len(organisations)]
            if wanted not in {c.tenant_id for c in connections}:
                raise RuntimeError(f"organisation {wanted} not offered to {loc['id']}")
            chosen[loc["id"]] = wanted
    return chosen


def _settings(
    runtime: XeroRuntime, locations: Sequence[Mapping[str, Any]], tenants: dict[str, str]
) -> dict[str, Any]:
    """Each location to its own organisation, codes from its chart, history from 2025."""
    from pm_xero_plugin.demo import practice

    codes = {t: practice.account_codes(runtime, t) for t in sorted(set(tenants.values()))}
    return practice.practice_settings(locations, tenants, codes, HISTORY_START.isoformat())


@contextmanager
def world(root: Path, *, clients: int, time_scale: float, seed: int = 11) -> Iterator[World]:
    """A connected two-location practice (``clients`` customers over 2025) with its contact sync
    and back-sync enqueued but nothing sent yet: the worker is not started."""
    from hookspecs.refhost import RefHost, generate_practice
    from pm_xero_plugin import plugin
    from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock
    from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime

    for name in ("PM_XERO_CLIENT_ID", "PM_XERO_CLIENT_SECRET", "PM_XERO_URL"):
        os.environ.pop(name, None)  # the plugin makes no runtime of its own: the bench's is it
    clock = SandboxClock(SANDBOX_START, time_scale=time_scale)
    sandbox = Sandbox(orgs=2, clock=clock, limits=Limits(), seed=seed)
    server = sandbox.serve(port=0)
    host = RefHost(root / "host", clock=HostClock(clock), load_entrypoints=False)
    runtime = None
    try:
        generate_practice(
            host, seed=seed, locations=2, clients=clients, start=HISTORY_START, end=HISTORY_END
        )
        host.register(plugin, name="xero")
        host.start()
        engine = plugin.get_engine()
        if engine is None:
            raise RuntimeError(f"the plugin did not start: {host.hook_failures}")
        config = AppConfig(
            client_id="sandbox-client", client_secret="sandbox-secret", url=server.url
        )
        runtime = XeroRuntime(
            engine,
            config,
            secret=host.secret("xero"),
            data_dir=host.data_dir("xero"),
            clock=SandboxTime(clock, time_scale),
        )  # its worker waits on the doorbell the engine rings (engine.doorbell)
        locations = list(host.locations())
        tenants = _connect(runtime, locations)
        errors = host.save_plugin_settings("xero", _settings(runtime, locations, tenants))
        if errors:
            raise RuntimeError(f"settings refused: {errors}")
        host.start_contact_sync(None)
        host.backfill(None, None)
        if host.hook_failures:
            raise RuntimeError(f"hooks failed: {host.hook_failures}")
        yield World(sandbox, clock, host, engine, runtime, tenants, server.url)
    finally:
        if runtime is not None:
            runtime.stop()  # the worker before the ledger it claims from closes
        host.stop()
        host.close()
        server.shutdown()
