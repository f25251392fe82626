"""A ``pm-xero worker`` process hears no hooks: it picks up settings the host saved by itself."""

from __future__ import annotations

from pathlib import Path

from support.ledger_helpers import Practice, settings

from pm_xero_plugin.sync.runtime import AppConfig, XeroRuntime


def test_a_worker_process_applies_settings_the_host_saved_without_telling_it(
    practice: Practice, tmp_path: Path
) -> None:
    practice.setup()
    runtime = XeroRuntime(
        practice.engine,
        AppConfig(client_id="app", client_secret="secret", url="http://127.0.0.1:9"),
        secret=b"k" * 32,
        data_dir=tmp_path,
        saved_settings=lambda: practice.host.settings("xero"),
    )
    try:
        assert practice.engine.settings is not None
        assert practice.engine.settings.enabled
        practice.host.store.save_plugin_settings(
            "xero", settings(enabled=False), "2025-03-01T09:00:00+00:00"
        )

        runtime.worker.run(until_idle=True, max_seconds=5.0)  # one loop: nothing is ready

        assert practice.engine.settings is not None
        assert practice.engine.settings.enabled is False
    finally:
        runtime.stop()
