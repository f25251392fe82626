"""A host secret too short to key the token store stops the Xero side with one clear line on the
dashboard, instead of encrypting every organisation's tokens under a 1-byte key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookspecs.refhost import RefHost
from pm_xero_plugin import plugin


class ShortSecretHost(RefHost):
    """A host whose secret for the add-on is one byte (accepted until now)."""

    def secret(self, plugin: str) -> bytes:
        return b"x"


@pytest.fixture
def app_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_XERO_CLIENT_ID", "app")
    monkeypatch.setenv("PM_XERO_CLIENT_SECRET", "app-secret")
    monkeypatch.setenv("PM_XERO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PM_XERO_WORKER", "off")


@pytest.mark.usefixtures("app_configured")
def test_a_one_byte_host_secret_is_refused_with_one_line_on_the_dashboard(tmp_path: Path) -> None:
    host = ShortSecretHost(tmp_path / "pm", load_entrypoints=False)
    host.register(plugin, name="xero")
    host.start()
    try:
        assert plugin.get_runtime() is None  # no token store keyed by a 1-byte secret
        status = plugin.sync_status(None, None)
        assert status is not None
        (condition,) = [c for c in status["health"] if c["condition"] == "host_secret"]
        message = str(condition["message"])
        assert "\n" not in message
        assert "is 1 bytes; at least 16 are needed" in message
        assert "32 bytes" in str(condition["action"])
        assert not (tmp_path / "pm" / "plugins" / "xero" / "tokens.sqlite3").exists()
    finally:
        host.stop()
        host.close()


def test_the_reference_host_gives_the_add_on_at_least_32_bytes(tmp_path: Path) -> None:
    host = RefHost(tmp_path / "pm", load_entrypoints=False)
    try:
        assert len(host.secret("xero")) >= 32
    finally:
        host.close()
