"""Fixtures: a practice dir for the CLI verbs, no Xero app from the shell, and a Xero client
connected to the in-process sandbox (for the preview's look-ups)."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.cli_fixtures import no_xero_app, practice  # noqa: F401

from pm_xero_plugin.sandbox import Sandbox
from pm_xero_plugin.xero.auth import (
    OAuthConfig,
    TokenProvider,
    begin_authorization,
    handle_callback,
)
from pm_xero_plugin.xero.client import XeroClient
from pm_xero_plugin.xero.ratelimit import RateLimiter
from pm_xero_plugin.xero.tokens import TokenStore

CONN = "syd"
"""The connection key the sandbox client's tokens are kept under."""


@pytest.fixture
def sandbox_client(tmp_path: Path) -> Iterator[tuple[Sandbox, XeroClient]]:
    sandbox = Sandbox()
    http = httpx.Client(transport=sandbox.transport())
    config = OAuthConfig.for_base_url(
        "http://sandbox.test",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri="http://127.0.0.1:8999/callback",
    )
    store = TokenStore(tmp_path / "tokens.sqlite3", b"host-secret-for-tests-0123456789")
    consent = http.get(begin_authorization(config, store, CONN).url)
    handle_callback(config, store, dict(httpx.URL(consent.headers["Location"]).params), http=http)
    client = XeroClient(
        config.api_url, TokenProvider(config, store, http=http), limiter=RateLimiter(), http=http
    )
    yield sandbox, client
    http.close()
