"""An in-process worker on a prepared data directory, driven on virtual time.

Retries, 429 ``Retry-After`` blocks, leases and the client's back-off sleeps all run on one
:class:`VirtualTime`: a sleep advances it at once (and the host and sandbox clocks with it), so
a whole back-sync through minutes of faults runs in about a second of real time and replays the
same way each run. The sandbox is mounted in process (``sandbox.transport()``): a "timeout"
fault is an immediate ``httpx.ReadTimeout``, a "lost" response is committed first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from hookspecs.refhost import ManualClock
from pm_xero_plugin.cli.ops import open_data_dir
from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime
from pm_xero_plugin.sync.worker import Worker, WorkerStats
from pm_xero_plugin.xero.ratelimit import RateLimiter
from support.reliability_practice import CLIENT_ID, CLIENT_SECRET, PLUGIN, Prepared, open_rows
from support.virtual_time import VirtualTime


@dataclass
class Running:
    runtime: XeroRuntime
    engine: Any
    host: Any
    vt: VirtualTime
    stats: list[WorkerStats] = field(default_factory=list)

    def run_once(self, max_seconds: float = 2.0) -> WorkerStats:
        stats = self.runtime.worker.run(until_idle=True, max_seconds=max_seconds)
        self.stats.append(stats)
        self.runtime.worker.stats = WorkerStats()
        return stats

    def open(self) -> dict[str, int]:
        return open_rows(self.engine.ledger)

    def until_settled(
        self, rounds: int = 40, step: float = 300.0, repair: Callable[[], object] | None = None
    ) -> None:
        """Run, let virtual time pass, run again – until nothing the rules send is open."""
        for _ in range(rounds):
            self.run_once()
            if repair is not None:
                repair()
            if not self.open():
                return
            self.vt.advance(step)
        raise AssertionError(f"still open after {rounds} rounds: {self.open()}")

    def reconnect(self, sandbox: Sandbox, location_id: str, tenant_id: str) -> None:
        """The admin presses "Connect to Xero" again and chooses the same organisation."""
        url = self.runtime.connect_url(location_id) + f"&tenant={tenant_id}"
        with httpx.Client(transport=sandbox.transport()) as browser:
            answer = browser.get(url, follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text
        self.runtime.complete_connect(dict(parse_qsl(urlsplit(answer.headers["location"]).query)))

    def reconnect_where_asked(self, sandbox: Sandbox, tenants: dict[str, str]) -> list[str]:
        """What an admin does on seeing "reconnect to Xero" on the dashboard (the ledger's
        tenant record not connected, with a reason): reconnect those locations."""
        down = {t.tenant_id for t in self.engine.ledger.tenants() if not t.connected}
        asked = [loc for loc, tenant in tenants.items() if tenant in down]
        for loc in asked:
            self.reconnect(sandbox, loc, tenants[loc])
        return asked


@contextmanager
def running(
    prepared: Prepared,
    sandbox: Sandbox,
    url: str,
    host_clock: ManualClock,
    *,
    per_tenant: int = 2,
    threads: int = 2,
    batch_size: int = 10,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[Running]:
    """A worker on ``prepared`` reaching ``sandbox`` in process, on virtual time.

    :param transport: instead of ``sandbox.transport()`` (tests that spoil answers wrap it).
    """
    sandbox_clock = sandbox.clock if isinstance(sandbox.clock, SandboxClock) else None
    vt = VirtualTime(host_clock=host_clock, sandbox_clock=sandbox_clock)
    config = AppConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, url=url, worker="off")
    with open_data_dir(Path(prepared.root)) as opened:
        opened.host.clock = host_clock
        runtime = XeroRuntime(
            opened.engine,
            config,
            secret=opened.host.secret(PLUGIN),
            data_dir=opened.host.data_dir(PLUGIN),
            transport=transport or sandbox.transport(),
            limiter=RateLimiter(clock=vt),
            worker_threads=threads,
        )
        runtime.client.clock = vt
        runtime.worker = Worker(
            opened.engine.ledger,
            runtime.sender,
            now=opened.host.now,
            doorbell=opened.engine.doorbell,
            threads=threads,
            per_tenant=per_tenant,
            batch_size=batch_size,
            poll_seconds=0.02,
            monotonic=vt.monotonic,
            limiter=runtime.limiter,
            tick=opened.engine.tick,
        )
        try:
            runtime.refresh_connections()
            yield Running(runtime, opened.engine, opened.host, vt)
        finally:
            runtime.stop()
