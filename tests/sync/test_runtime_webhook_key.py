"""The webhook key comes from ``PM_XERO_WEBHOOK_KEY`` beside the client secret, and like it is
never in a repr (so never in a log line that prints the configuration)."""

from __future__ import annotations

import logging

import pytest

from pm_xero_plugin.sync.runtime import AppConfig

APP = {"PM_XERO_CLIENT_ID": "client-1", "PM_XERO_CLIENT_SECRET": "client-secret-value"}


def test_the_webhook_key_is_read_from_the_environment() -> None:
    config = AppConfig.from_env({**APP, "PM_XERO_WEBHOOK_KEY": "webhook-key-value"})
    assert config is not None
    assert config.webhook_key == "webhook-key-value"


@pytest.mark.parametrize("env", [APP, {**APP, "PM_XERO_WEBHOOK_KEY": ""}])
def test_no_key_or_an_empty_one_is_webhooks_not_set_up(env: dict[str, str]) -> None:
    config = AppConfig.from_env(env)
    assert config is not None
    assert config.webhook_key is None


def test_the_key_is_in_no_repr_nor_a_logged_configuration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = AppConfig.from_env({**APP, "PM_XERO_WEBHOOK_KEY": "webhook-key-value"})
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("configured: %s / %r", config, config)
    assert "webhook-key-value" not in repr(config)
    assert "webhook-key-value" not in str(config)
    assert "webhook-key-value" not in caplog.text
    assert "client-1" in caplog.text  # the configuration itself was logged
