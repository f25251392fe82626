"""Fixtures for the browser tests: Debian's headless Chromium driven by Playwright, one browser
per test module and a fresh context (cookies, storage) per test, against a served practice
(:mod:`support.browser_world`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("support.browser_world")

from support.browser_world import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    BrowserWorld,
    served_world,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, Debian's build (Playwright is pointed at it; its own download is never
    used, nor reachable from CI).

    One per module, not per session: while Playwright's sync API is alive it marks its event
    loop as running in the main thread, so an ``asyncio.run`` in any later test of the suite
    would fail. A launch costs about a second."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium ('apt-get install -y chromium', "
            "as .ci/run does) to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile for one test: no cookie or session carries over."""
    fresh = browser.new_context(viewport=VIEWPORT)
    fresh.set_default_timeout(15_000)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def fresh_world(tmp_path: Path, xero_spec_path: Path) -> Iterator[BrowserWorld]:
    """A practice as it is the day the admin installs the add-on: history in the host, the
    add-on switched off, nothing connected; long actions on the add-on's job thread."""
    with served_world(tmp_path, xero_spec_path, background_jobs=True, plugin_on=False) as world:
        yield world
