"""Fixtures for tests that run the CLI verbs on a practice dir (imported by their conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli_practice import PracticeDir, build_practice


@pytest.fixture(autouse=True)
def no_xero_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Xero app from the developer's shell: the verbs see only what a test sets."""
    for name in (
        "PM_XERO_CLIENT_ID",
        "PM_XERO_CLIENT_SECRET",
        "PM_XERO_URL",
        "PM_XERO_DATA_DIR",
        "PM_XERO_REDIRECT_URI",
        "PM_XERO_WORKER",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def practice(tmp_path: Path) -> PracticeDir:
    return build_practice(tmp_path / "pm")
