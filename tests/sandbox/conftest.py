"""Fixtures: the spec (once per session), a sandbox on a manual clock, and an OAuth'd client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.sandbox_helpers import Api, Tokens, connect
from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.spec_location import find_xero_spec
from pm_xero_plugin.sandbox.validation import load_spec


@pytest.fixture(scope="session")
def spec_path(xero_spec_path: Path) -> str:
    load_spec(str(xero_spec_path))  # the ~0.5 s load, once per session
    return str(xero_spec_path)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(datetime(2024, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def sandbox(clock: SandboxClock) -> Sandbox:
    """Checks bodies against Xero's spec when the spec is there; a test *of* that checking asks
    for ``spec_path`` too, so only those tests skip without it."""
    return Sandbox(clock=clock, spec_path=find_xero_spec())


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport(), base_url="http://xero.sandbox") as c:
        yield c


@pytest.fixture
def tokens(client: httpx.Client) -> Tokens:
    return connect(client)


@pytest.fixture
def api(client: httpx.Client, tokens: Tokens) -> Api:
    return Api(client, tokens)


@pytest.fixture
def checked(clock: SandboxClock, spec_path: str) -> Iterator[Sandbox]:
    """A sandbox that checks request bodies and its own answers against Xero's spec; the test
    fails at teardown on any answer the spec disallows."""
    sandbox = Sandbox(clock=clock, spec_path=spec_path, check_responses=True)
    yield sandbox
    assert sandbox.response_violations == []
    assert sandbox.responses_checked > 0


@pytest.fixture
def capi(checked: Sandbox) -> Iterator[Api]:
    """An OAuth'd caller of the `checked` sandbox."""
    with httpx.Client(transport=checked.transport(), base_url="http://xero.sandbox") as c:
        yield Api(c, connect(c))


@pytest.fixture
def money(capi: Api) -> Money:
    """Builders on the spec-checked sandbox."""
    return Money(capi)
