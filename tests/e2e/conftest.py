"""Fixtures for the end-to-end and fault tests: a sandbox served on loopback (real HTTP) that
checks bodies against Xero's spec, and a reference host running the Xero add-on against it.

The helpers live in e2e_world.py (conftest keeps only fixtures, so imports cannot collide).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("e2e_expect", "e2e_world")

from support.e2e_world import HISTORY_FROM, HISTORY_TO, NOW, World  # noqa: E402
from support.virtual_time import VirtualTime  # noqa: E402

from hookspecs.refhost import ManualClock, RefHost, generate_practice  # noqa: E402
from pm_xero_plugin import plugin  # noqa: E402
from pm_xero_plugin.sandbox import Limits, Sandbox, SandboxClock  # noqa: E402
from pm_xero_plugin.sandbox.spec_check import load_xero_spec  # noqa: E402


@pytest.fixture(scope="session")
def spec_path(xero_spec_path: Path) -> Path:
    return xero_spec_path


@pytest.fixture(scope="session")
def xero_spec(spec_path: Path) -> Any:
    return load_xero_spec(spec_path)


@pytest.fixture
def limits() -> Limits:
    """Xero's real limits; a test overrides this fixture for a 429 storm."""
    return Limits()


def build_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec_path: Path,
    xero_spec: Any,
    limits: Limits,
    *,
    clients: int = 60,
) -> Iterator[World]:
    sandbox_clock = SandboxClock(NOW)
    sandbox = Sandbox(
        orgs=2,
        spec_path=spec_path,
        clock=sandbox_clock,
        limits=limits,
        seed=5,
        check_responses=True,  # every answer validated against Xero's response schemas
    )
    server = sandbox.serve(port=0)
    monkeypatch.setenv("PM_XERO_URL", server.url)
    monkeypatch.setenv("PM_XERO_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", sandbox.client_secret)
    monkeypatch.setenv("PM_XERO_WORKER", "off")
    clock = ManualClock(NOW)
    host = RefHost(tmp_path / "pm", clock=clock, load_entrypoints=False)
    host.register(plugin, name="xero")
    generate_practice(host, seed=11, clients=clients, start=HISTORY_FROM, end=HISTORY_TO)
    host.start()
    world = World(
        sandbox=sandbox,
        server=server,
        host=host,
        clock=clock,
        time=VirtualTime(host_clock=clock, sandbox_clock=sandbox_clock),
        spec=xero_spec,
        organisations=list(sandbox.seeded),
    )
    try:
        world.wire_runtime()
        yield world
    finally:
        host.stop()
        host.close()
        server.shutdown()
    assert world.violations == [], "requests that break Xero's spec:\n" + "\n".join(
        world.violations[:5]
    )
    assert host.hook_failures == [], host.hook_failures
    assert sandbox.response_violations == [], "sandbox answers that break Xero's spec:\n" + (
        "\n".join(sandbox.response_violations[:5])
    )


@pytest.fixture
def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec_path: Path,
    xero_spec: Any,
    limits: Limits,
) -> Iterator[World]:
    """Three locations, the practice generated (history only), the add-on started; not connected."""
    yield from build_world(tmp_path, monkeypatch, spec_path, xero_spec, limits)


@pytest.fixture
def large_world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec_path: Path,
    xero_spec: Any,
    limits: Limits,
) -> Iterator[World]:
    """The same with 240 customers: enough rows for several batches per organisation."""
    yield from build_world(tmp_path, monkeypatch, spec_path, xero_spec, limits, clients=240)
