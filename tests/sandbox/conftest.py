"""Fixtures: the spec (once per session), a sandbox on a manual clock, and an OAuth'd client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sandbox_helpers import Api, Tokens, connect

from pm_xero_plugin.sandbox import Sandbox, SandboxClock
from pm_xero_plugin.sandbox.validation import load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def spec_path() -> str:
    env = os.environ.get("XERO_OPENAPI_SPEC")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "xero-openapi" / "xero_accounting.yaml"]
    for path in candidates:
        if path.is_file():
            load_spec(str(path))  # the ~0.5 s load, once per session
            return str(path)
    pytest.skip(
        "Xero's OpenAPI spec not found (set XERO_OPENAPI_SPEC or provide ../shared/xero-openapi/)"
    )


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(datetime(2024, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def sandbox(clock: SandboxClock, spec_path: str) -> Sandbox:
    return Sandbox(clock=clock, spec_path=spec_path)


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
